/* The runtime's bounded queue. */
#include "rt_queue.h"

#include <criterion/criterion.h>
#include <pthread.h>

Test(rt_queue, is_bounded_and_first_in_first_out)
{
    struct rt_queue q;
    uint32_t item;
    bool waited;
    rt_queue_init(&q, 3);
    for (uint32_t i = 0; i < 3; i++)
        cr_assert(rt_queue_push(&q, i));
    cr_assert_not(rt_queue_push(&q, 9), "a full queue takes nothing");
    for (uint32_t i = 0; i < 3; i++) {
        cr_assert(rt_queue_pop(&q, &item, &waited));
        cr_assert_eq(item, i);
        cr_assert_not(waited);
    }
    for (uint32_t i = 10; i < 15; i++) { /* wraps around */
        cr_assert(rt_queue_push(&q, i));
        cr_assert(rt_queue_pop(&q, &item, NULL));
        cr_assert_eq(item, i);
    }
    rt_queue_release(&q);
}

static void *close_later(void *q)
{
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    rt_queue_close(q);
    return NULL;
}

Test(rt_queue, close_delivers_what_is_queued_then_wakes_waiters)
{
    struct rt_queue q;
    uint32_t item;
    bool waited;
    pthread_t t;
    rt_queue_init(&q, 4);
    cr_assert(rt_queue_push(&q, 7));
    rt_queue_close(&q);
    cr_assert_not(rt_queue_push(&q, 8), "a closed queue takes nothing");
    cr_assert(rt_queue_pop(&q, &item, NULL));
    cr_assert_eq(item, 7);
    cr_assert_not(rt_queue_pop(&q, &item, NULL));
    rt_queue_release(&q);

    rt_queue_init(&q, 4);
    pthread_create(&t, NULL, close_later, &q);
    cr_assert_not(rt_queue_pop(&q, &item, &waited), "an empty queue that closes wakes its waiter");
    cr_assert(waited);
    pthread_join(t, NULL);
    rt_queue_release(&q);
}
