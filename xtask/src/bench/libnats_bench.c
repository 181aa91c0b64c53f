/*
 * The second, independent load generator of `cargo xtask bench`, built on the official NATS C
 * client (Debian's libnats-dev). It exists only to check that `natter bench` is not the
 * bottleneck: xtask drives the same nats-server with both and compares the rates.
 *
 *   libnats-bench URL SUBJECT MSGS SIZE SUBS
 *
 * One publisher connection sends MSGS messages of SIZE bytes to SUBJECT; SUBS (0 or more)
 * subscriber connections each expect every message. Output, one line per side:
 *
 *   pub <count> <seconds>
 *   sub <count> <seconds>      (summed over subscribers; seconds from the first publish to
 *                               the last message the slowest subscriber received)
 *   version <libnats version>
 */
#include <nats/nats.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_secs(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct counter {
    pthread_mutex_t lock;
    pthread_cond_t done;
    int64_t received;
    int64_t expected;
    double last;
};

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
    struct counter *c = closure;
    (void)nc;
    (void)sub;
    natsMsg_Destroy(msg);
    pthread_mutex_lock(&c->lock);
    c->received++;
    if (c->received == c->expected) {
        c->last = now_secs();
        pthread_cond_signal(&c->done);
    }
    pthread_mutex_unlock(&c->lock);
}

static void check(natsStatus s, const char *what) {
    if (s != NATS_OK) {
        fprintf(stderr, "libnats-bench: %s: %s\n", what, natsStatus_GetText(s));
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: libnats-bench URL SUBJECT MSGS SIZE SUBS\n");
        return 2;
    }
    const char *url = argv[1];
    const char *subject = argv[2];
    int64_t msgs = atoll(argv[3]);
    int size = atoi(argv[4]);
    int subs = atoi(argv[5]);

    char *payload = calloc((size_t)size + 1, 1);
    memset(payload, 'n', (size_t)size);

    natsConnection **sub_conns = calloc((size_t)subs + 1, sizeof(*sub_conns));
    natsSubscription **sub_handles = calloc((size_t)subs + 1, sizeof(*sub_handles));
    struct counter *counters = calloc((size_t)subs + 1, sizeof(*counters));
    for (int i = 0; i < subs; i++) {
        pthread_mutex_init(&counters[i].lock, NULL);
        pthread_cond_init(&counters[i].done, NULL);
        counters[i].expected = msgs;
        check(natsConnection_ConnectTo(&sub_conns[i], url), "subscriber connect");
        check(natsConnection_Subscribe(&sub_handles[i], sub_conns[i], subject, on_msg, &counters[i]),
              "subscribe");
        /* The library's default pending limit would drop messages on a fast publisher; the
         * benchmark counts every one. */
        check(natsSubscription_SetPendingLimits(sub_handles[i], -1, -1), "pending limits");
        check(natsConnection_Flush(sub_conns[i]), "subscriber flush");
    }

    natsConnection *pub = NULL;
    check(natsConnection_ConnectTo(&pub, url), "publisher connect");
    double start = now_secs();
    for (int64_t i = 0; i < msgs; i++) {
        check(natsConnection_Publish(pub, subject, payload, size), "publish");
    }
    check(natsConnection_FlushTimeout(pub, 60000), "publisher flush");
    double pub_end = now_secs();
    printf("pub %lld %.6f\n", (long long)msgs, pub_end - start);

    if (subs > 0) {
        double last = start;
        int64_t total = 0;
        for (int i = 0; i < subs; i++) {
            pthread_mutex_lock(&counters[i].lock);
            struct timespec deadline;
            clock_gettime(CLOCK_REALTIME, &deadline);
            deadline.tv_sec += 60;
            while (counters[i].received < counters[i].expected) {
                if (pthread_cond_timedwait(&counters[i].done, &counters[i].lock, &deadline) != 0) {
                    break;
                }
            }
            total += counters[i].received;
            if (counters[i].received == counters[i].expected && counters[i].last > last) {
                last = counters[i].last;
            }
            int complete = counters[i].received == counters[i].expected;
            pthread_mutex_unlock(&counters[i].lock);
            if (!complete) {
                fprintf(stderr, "libnats-bench: subscriber %d got %lld of %lld messages\n", i,
                        (long long)counters[i].received, (long long)msgs);
                return 1;
            }
        }
        printf("sub %lld %.6f\n", (long long)total, last - start);
    }
    printf("version %s\n", nats_GetVersion());
    fflush(stdout);

    natsConnection_Destroy(pub);
    for (int i = 0; i < subs; i++) {
        natsSubscription_Destroy(sub_handles[i]);
        natsConnection_Destroy(sub_conns[i]);
    }
    nats_Close();
    return 0;
}
