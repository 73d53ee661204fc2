// SPDX-License-Identifier: Apache-2.0
// tls/keyserver/pool.c: the signing threads, the queue that feeds them and the done queue that
// hands signed jobs back to the I/O thread.
//
// One mutex guards both queues: the I/O thread holds it only to splice a list in or out, and a
// signing thread only to pop one job or push one back, so it is never held while signing. The
// done queue wakes the I/O thread through an eventfd that is written only when the queue goes
// from empty to non-empty; the I/O thread reads the eventfd before it takes the queue, so a job
// pushed after the take writes it again and none is ever left behind unseen.
#include "tls/keyserver/keyserver.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define THREADS_MAX 64

// struct ks_pool: owned by the server (main thread); shared with the signing threads, which
// reach it through the pointer they were started with and touch only what `lock` guards.
struct ks_pool {
    pthread_mutex_t lock;
    pthread_cond_t work;     // signalled when todo gains jobs or stopping is set
    struct ks_job_list todo; // guarded by lock
    struct ks_job_list done; // guarded by lock
    bool stopping;           // guarded by lock
    int efd;                 // eventfd; written by signing threads, read by the I/O thread
    int nthreads;            // threads started
    pthread_t thread[THREADS_MAX];
};

void ks_job_list_init(struct ks_job_list *list)
{
    list->head = NULL;
    list->tail = &list->head;
    list->n = 0;
}

void ks_job_list_push(struct ks_job_list *list, struct ks_job *job)
{
    job->next = NULL;
    *list->tail = job;
    list->tail = &job->next;
    list->n++;
}

struct ks_job *ks_job_list_pop(struct ks_job_list *list)
{
    struct ks_job *job = list->head;
    if (!job)
        return NULL;
    list->head = job->next;
    if (!list->head)
        list->tail = &list->head;
    list->n--;
    job->next = NULL;
    return job;
}

// splice moves every job of from to the end of to.
static void splice(struct ks_job_list *to, struct ks_job_list *from)
{
    if (!from->head)
        return;
    *to->tail = from->head;
    to->tail = from->tail;
    to->n += from->n;
    ks_job_list_init(from);
}

static void wake_io(struct ks_pool *pool)
{
    uint64_t one = 1;
    // A full counter (never reached) or EAGAIN still leaves the eventfd readable.
    ssize_t w = write(pool->efd, &one, sizeof(one));
    (void)w;
}

// signer is a signing thread: it pops a job, signs it without the lock, and pushes it to done.
static void *signer(void *arg)
{
    struct ks_pool *pool = arg;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (!pool->todo.head && !pool->stopping)
            pthread_cond_wait(&pool->work, &pool->lock);
        if (pool->stopping)
            break;
        struct ks_job *job = ks_job_list_pop(&pool->todo);
        pthread_mutex_unlock(&pool->lock);

        ks_sign_run(job->key, &job->req, &job->rep);

        pthread_mutex_lock(&pool->lock);
        bool was_empty = pool->done.head == NULL;
        ks_job_list_push(&pool->done, job);
        if (was_empty)
            wake_io(pool);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

struct ks_pool *ks_pool_new(int nthreads)
{
    if (nthreads < 1 || nthreads > THREADS_MAX) {
        errno = EINVAL;
        return NULL;
    }
    struct ks_pool *pool = calloc(1, sizeof(*pool));
    if (!pool)
        return NULL;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->work, NULL);
    ks_job_list_init(&pool->todo);
    ks_job_list_init(&pool->done);
    pool->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (pool->efd < 0)
        goto fail;
    for (; pool->nthreads < nthreads; pool->nthreads++) {
        int rc = pthread_create(&pool->thread[pool->nthreads], NULL, signer, pool);
        if (rc != 0) {
            errno = rc;
            goto fail;
        }
    }
    return pool;
fail:;
    int e = errno;
    struct ks_job_list none;
    ks_pool_free(pool, &none);
    errno = e;
    return NULL;
}

int ks_pool_fd(const struct ks_pool *pool)
{
    return pool->efd;
}

void ks_pool_submit(struct ks_pool *pool, struct ks_job_list *list)
{
    size_t n = list->n;
    if (n == 0)
        return;
    pthread_mutex_lock(&pool->lock);
    splice(&pool->todo, list);
    if (n == 1)
        pthread_cond_signal(&pool->work);
    else
        pthread_cond_broadcast(&pool->work);
    pthread_mutex_unlock(&pool->lock);
}

void ks_pool_take_done(struct ks_pool *pool, struct ks_job_list *out)
{
    uint64_t count;
    ssize_t r = read(pool->efd, &count, sizeof(count));
    (void)r; // EAGAIN: nothing was signalled, the queue may still hold jobs from before
    ks_job_list_init(out);
    pthread_mutex_lock(&pool->lock);
    splice(out, &pool->done);
    pthread_mutex_unlock(&pool->lock);
}

void ks_pool_free(struct ks_pool *pool, struct ks_job_list *leftover)
{
    ks_job_list_init(leftover);
    if (!pool)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->stopping = true;
    pthread_cond_broadcast(&pool->work);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < pool->nthreads; i++)
        pthread_join(pool->thread[i], NULL);
    splice(leftover, &pool->done);
    splice(leftover, &pool->todo);
    if (pool->efd >= 0)
        close(pool->efd);
    pthread_cond_destroy(&pool->work);
    pthread_mutex_destroy(&pool->lock);
    free(pool);
}
