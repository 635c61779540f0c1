/* A bounded blocking FIFO (rt_queue.h). */
#include "rt_queue.h"

#include "mx_alloc.h"

#include <sched.h>
#include <stdlib.h>

void rt_queue_init(struct rt_queue *q, uint32_t capacity)
{
    *q = (struct rt_queue){.capacity = capacity ? capacity : 1};
    q->items = mx_malloc_array(q->capacity, sizeof(uint32_t));
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->nonempty, NULL);
}

void rt_queue_release(struct rt_queue *q)
{
    if (!q->items)
        return;
    pthread_cond_destroy(&q->nonempty);
    pthread_mutex_destroy(&q->lock);
    free(q->items);
    *q = (struct rt_queue){0};
}

bool rt_queue_push(struct rt_queue *q, uint32_t item)
{
    pthread_mutex_lock(&q->lock);
    bool ok = !q->closed && q->count < q->capacity;
    if (ok) {
        q->items[(q->head + q->count) % q->capacity] = item;
        q->count++;
        atomic_store(&q->ready, q->count);
        pthread_cond_signal(&q->nonempty);
    }
    pthread_mutex_unlock(&q->lock);
    return ok;
}

bool rt_queue_pop(struct rt_queue *q, uint32_t *item, bool *was_empty)
{
    pthread_mutex_lock(&q->lock);
    bool waited = false;
    while (q->count == 0 && !q->closed) {
        waited = true;
        pthread_cond_wait(&q->nonempty, &q->lock);
    }
    bool ok = q->count > 0;
    if (ok) {
        *item = q->items[q->head];
        q->head = (q->head + 1) % q->capacity;
        q->count--;
        atomic_store(&q->ready, q->count);
    }
    pthread_mutex_unlock(&q->lock);
    if (was_empty)
        *was_empty = waited;
    return ok;
}

bool rt_queue_poll(struct rt_queue *q, uint32_t *item, bool *was_empty)
{
    bool waited = false;
    for (;;) {
        if (atomic_load(&q->ready) > 0 || atomic_load(&q->closed)) {
            bool waited_inside;
            bool ok = rt_queue_pop(q, item, &waited_inside); /* a close that raced: no wait */
            if (was_empty)
                *was_empty = waited || waited_inside;
            return ok;
        }
        waited = true;
        sched_yield();
    }
}

void rt_queue_close(struct rt_queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->closed = true;
    pthread_cond_broadcast(&q->nonempty);
    pthread_mutex_unlock(&q->lock);
}
