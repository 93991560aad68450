/* kujo-keygen: make a ZeroMQ CURVE keypair for KUJO_CURVE_SECRET_KEY and
 * KUJO_CURVE_PEERS.
 *
 *   kujo-keygen             prints "public <z85>" and "secret <z85>"
 *   kujo-keygen --out DIR   writes DIR/curve.secret (0600) and
 *                           DIR/curve.public, prints only the public key
 *
 * Exit 0, 64 for bad usage, 1 when the keys cannot be made or written. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include <zmq.h>

#define S_KEY_LEN 40 /* Z85 of 32 bytes */

static void
s_usage(FILE *f)
{
    fprintf(f, "usage: kujo-keygen [--out DIR]\n"
               "Make a ZeroMQ CURVE keypair (Z85) for KUJO_CURVE_SECRET_KEY "
               "and KUJO_CURVE_PEERS.\n"
               "Without --out, print \"public <key>\" and \"secret <key>\".\n"
               "With --out DIR, write DIR/curve.secret (mode 0600) and "
               "DIR/curve.public and print the public key.\n");
}

/* Write key and a newline to path, created with mode (an existing file
 * is replaced and its mode forced). 0, or -1 with the reason on stderr. */
static int
s_write(const char *path, const char *key, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        int e = errno;
        fprintf(stderr, "kujo-keygen: %s: %s\n", path, strerror(e));
        return -1;
    }
    char line[S_KEY_LEN + 2];
    memcpy(line, key, S_KEY_LEN);
    line[S_KEY_LEN] = '\n';
    /* The mode of a file that already existed is not changed by open. */
    int rc = 0;
    if (fchmod(fd, mode) != 0 ||
        write(fd, line, S_KEY_LEN + 1) != S_KEY_LEN + 1 || fsync(fd) != 0)
        rc = -1;
    int e = errno;
    if (close(fd) != 0 && rc == 0) {
        e = errno;
        rc = -1;
    }
    if (rc != 0)
        fprintf(stderr, "kujo-keygen: %s: %s\n", path, strerror(e));
    return rc;
}

int
main(int argc, char **argv)
{
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            s_usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--out") == 0 && i + 1 < argc && !out) {
            out = argv[++i];
            continue;
        }
        s_usage(stderr);
        return 64;
    }
    if (!zmq_has("curve")) {
        fprintf(stderr, "kujo-keygen: this libzmq was built without CURVE "
                        "support (zmq_has(\"curve\") is false); install a "
                        "libzmq built with libsodium or tweetnacl\n");
        return 1;
    }
    char pub[S_KEY_LEN + 1], sec[S_KEY_LEN + 1];
    if (zmq_curve_keypair(pub, sec) != 0) {
        int e = zmq_errno();
        fprintf(stderr, "kujo-keygen: zmq_curve_keypair: %s\n",
                zmq_strerror(e));
        return 1;
    }
    int rc = 0;
    if (!out) {
        printf("public %s\nsecret %s\n", pub, sec);
    } else {
        char path[4096];
        int n = snprintf(path, sizeof path, "%s/curve.secret", out);
        if (n < 0 || (size_t)n >= sizeof path - 1) {
            fprintf(stderr, "kujo-keygen: --out: path too long\n");
            rc = 64;
        } else if (s_write(path, sec, 0600) != 0) {
            rc = 1;
        } else {
            snprintf(path, sizeof path, "%s/curve.public", out);
            if (s_write(path, pub, 0644) != 0)
                rc = 1;
            else
                printf("%s\n", pub);
        }
    }
    memset(sec, 0, sizeof sec);
    if (fflush(stdout) != 0 && rc == 0)
        rc = 1;
    return rc;
}
