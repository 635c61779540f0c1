/* A bounded first-in first-out queue of uint32 items between threads (request indices, buffer
 * indices), with blocking pop and a close that wakes every waiter.
 *
 * The runtime's stage queues and buffer pools are these. Capacity is fixed at creation, so memory
 * stays bounded whatever the load: a push to a full queue fails rather than grows. */
#ifndef RT_QUEUE_H
#define RT_QUEUE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct rt_queue {
    pthread_mutex_t lock;
    atomic_uint ready; /* count, readable without the lock by pollers */
    pthread_cond_t nonempty;
    uint32_t *items; /* [capacity] ring */
    uint32_t capacity, head, count;
    atomic_bool closed;
};

/* A queue of capacity >= 1 items. Release with rt_queue_release(). */
void rt_queue_init(struct rt_queue *q, uint32_t capacity);
void rt_queue_release(struct rt_queue *q);

/* Append item; false when the queue is full or closed (the item is not taken). */
bool rt_queue_push(struct rt_queue *q, uint32_t item);

/* Take the oldest item, waiting while the queue is empty and open. False once it is closed and
 * empty: items pushed before the close are still delivered. *was_empty (may be NULL) says whether
 * the call had to wait. rt_queue_pop sleeps while it waits; rt_queue_poll polls, yielding the
 * core to any other runnable thread, so that the core stays ready (rt_team.h says why). */
bool rt_queue_pop(struct rt_queue *q, uint32_t *item, bool *was_empty);
bool rt_queue_poll(struct rt_queue *q, uint32_t *item, bool *was_empty);

/* No more pushes; waiters wake once the queue drains. */
void rt_queue_close(struct rt_queue *q);

#endif
