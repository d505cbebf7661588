/*
 * check.h - the smallest useful C test harness for molt's unit tests.
 *
 * CHECK(cond, fmt, ...) records one assertion; a failed one prints where and why.
 * CHECK_EQ(a, b) compares integers and prints both values on failure.
 * check_done() prints the closing line "N passed, N failed" (read by CI) and
 * returns the process exit code: 0 only if nothing failed and something ran.
 */
#ifndef MOLT_TEST_CHECK_H
#define MOLT_TEST_CHECK_H

#include <stdio.h>

static int check_passed, check_failed;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (cond) {                                                            \
            check_passed++;                                                    \
        } else {                                                               \
            check_failed++;                                                    \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);    \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
        }                                                                      \
    } while (0)

#define CHECK_EQ(a, b)                                                         \
    do {                                                                       \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);        \
        CHECK(check_a_ == check_b_, "%s = %lld, expected %s = %lld", #a,       \
              check_a_, #b, check_b_);                                         \
    } while (0)

static inline int check_done(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return (check_failed == 0 && check_passed > 0) ? 0 : 1;
}

#endif
