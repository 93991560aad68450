/* A main() for libFuzzer targets without libFuzzer: runs the target's
 * LLVMFuzzerTestOneInput once over every file named on the command line or
 * found in a directory named there. The normal build uses it to replay
 * each target's seed corpus (and any crash reproducers added to it) as a
 * regression test, with whatever compiler and sanitizers the build has.
 *
 *   fuzzreg_envelope tests/fuzz/corpus/envelope [more files or dirs]
 *
 * A missing or empty directory is not an error: a target may not have a
 * corpus yet. Arguments starting with '-' (libFuzzer flags) are ignored. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Corpus files are small; anything bigger is a mistake, not an input. */
#define DRIVER_FILE_MAX (16 * 1024 * 1024)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Optional in a target, as with libFuzzer. */
int
LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int
s_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Run one file. 0, or -1 if it could not be read. */
static int
s_run_file(const char *path)
{
    int rc = -1;
    uint8_t *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "driver: %s: %s\n", path, strerror(errno));
        goto out;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size < 0 ||
        st.st_size > DRIVER_FILE_MAX) {
        fprintf(stderr, "driver: %s: unreadable or over %d bytes\n", path,
                DRIVER_FILE_MAX);
        goto out;
    }
    size_t size = (size_t)st.st_size;
    /* An exact-size heap buffer, so a sanitizer sees any overread. */
    buf = malloc(size ? size : 1);
    if (!buf || fread(buf, 1, size, f) != size) {
        fprintf(stderr, "driver: %s: read failed\n", path);
        goto out;
    }
    LLVMFuzzerTestOneInput(buf, size);
    rc = 0;
out:
    free(buf);
    if (f)
        fclose(f);
    return rc;
}

/* Run every regular file in dir, in name order for stable output.
 * Returns the number run, or -1 if a file could not be read. */
static long
s_run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        printf("driver: no corpus at %s (%s); nothing to run\n", dir,
               strerror(errno));
        return 0;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    long ran = 0;
    int bad = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **grown = realloc(names, cap * sizeof *names);
            if (!grown)
                abort();
            names = grown;
        }
        names[n] = strdup(e->d_name);
        if (!names[n])
            abort();
        n++;
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof *names, s_cmp);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(dir) + strlen(names[i]) + 2;
        char *path = malloc(len);
        if (!path)
            abort();
        snprintf(path, len, "%s/%s", dir, names[i]);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            if (s_run_file(path) == 0)
                ran++;
            else
                bad = 1;
        }
        free(path);
        free(names[i]);
    }
    free(names);
    if (ran == 0 && !bad)
        printf("driver: %s is empty; nothing to run\n", dir);
    return bad ? -1 : ran;
}

int
main(int argc, char **argv)
{
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    long total = 0;
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] == '-')
            continue;
        struct stat st;
        if (stat(arg, &st) == 0 && S_ISREG(st.st_mode)) {
            if (s_run_file(arg) == 0)
                total++;
            else
                bad = 1;
            continue;
        }
        long ran = s_run_dir(arg);
        if (ran < 0)
            bad = 1;
        else
            total += ran;
    }
    printf("driver: ran %ld inputs\n", total);
    return bad ? 1 : 0;
}
