/*
 * subcmd.c -- commands that live in executables of their own.
 *
 * `maplog ship` needs the NATS C client, and through it libssl, libcrypto and
 * libprotobuf-c; the other commands need none of them and must run where those are not
 * installed.  So ship is a program of its own, maplog-ship, built only when the client is
 * found, and `maplog ship ARGS` finds it and execs it, as git runs its subcommands.  The
 * exec keeps the process: a signal sent to `maplog ship` reaches the shipper.
 */
#define _GNU_SOURCE
#include "subcmd.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What to tell a user whose maplog has no prog beside it. */
static const char *missing_hint(const char *prog)
{
    if (strcmp(prog, "maplog-ship") != 0 && strcmp(prog, "maplog-mirror") != 0)
        return "reinstall maplog, or set MAPLOG_EXEC_PATH to the directory that holds it";
#ifdef MAPLOG_SHIP_BUILT
    return "it is built with this maplog but not where maplog looks; reinstall maplog, or "
           "set MAPLOG_EXEC_PATH to the directory that holds it";
#else
    return "this maplog was built without the NATS client; install it (apt-get install "
           "libnats-dev) and rebuild";
#endif
}

/* The directory of the running executable into dir; 0, or -1 when it cannot be told. */
static int self_dir(char *dir, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", dir, len - 1);
    if (n <= 0 || (size_t)n >= len - 1)
        return -1;
    dir[n] = 0;
    char *slash = strrchr(dir, '/');
    if (!slash)
        return -1;
    slash[slash == dir] = 0; /* keep "/" for a program in the root */
    return 0;
}

int maplog_cli_exec(const char *prog, int argc, char **argv)
{
    const char *cmd = argc > 0 && argv[0] ? argv[0] : prog;
    char dirs[3][PATH_MAX], path[PATH_MAX + 64], looked[3 * (PATH_MAX + 2)] = "";
    int ndirs = 0;
    const char *env = getenv("MAPLOG_EXEC_PATH");
    if (env && env[0] && strlen(env) < sizeof dirs[0])
        strcpy(dirs[ndirs++], env);
    char self[PATH_MAX];
    if (self_dir(self, sizeof self) == 0) {
        strcpy(dirs[ndirs++], self);
        int n = snprintf(dirs[ndirs], sizeof dirs[ndirs], "%s/../libexec/maplog", self);
        if (n > 0 && (size_t)n < sizeof dirs[ndirs])
            ndirs++;
    }
    for (int i = 0; i < ndirs; i++) {
        struct stat st;
        size_t used = strlen(looked);
        snprintf(looked + used, sizeof looked - used, "%s%s", i ? ", " : "", dirs[i]);
        int n = snprintf(path, sizeof path, "%s/%s", dirs[i], prog);
        if (n < 0 || (size_t)n >= sizeof path || stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
            access(path, X_OK) != 0)
            continue;
        char **args = calloc((size_t)(argc > 0 ? argc : 1) + 1, sizeof *args);
        char *name = strdup(prog);
        if (!args || !name) {
            free(args);
            free(name);
            fprintf(stderr, "maplog: %s: out of memory\n", cmd);
            return 1;
        }
        args[0] = name;
        for (int a = 1; a < argc; a++)
            args[a] = argv[a];
        /* start prog as it would start on its own: the tool ignores SIGPIPE, and an
         * ignored signal stays ignored across exec */
        struct sigaction old, dfl = {.sa_handler = SIG_DFL};
        sigemptyset(&dfl.sa_mask);
        sigaction(SIGPIPE, &dfl, &old);
        fflush(NULL);
        execv(path, args);
        int err = errno;
        sigaction(SIGPIPE, &old, NULL);
        free(args);
        free(name);
        fprintf(stderr, "maplog: %s: cannot run %s: %s\n", cmd, path, strerror(err));
        return 1;
    }
    fprintf(stderr, "maplog: %s: %s is not installed (looked in: %s): %s\n", cmd, prog,
            ndirs ? looked : "nowhere: MAPLOG_EXEC_PATH is unset and /proc/self/exe unreadable",
            missing_hint(prog));
    return 1;
}

int maplog_cli_ship(int argc, char **argv)
{
    return maplog_cli_exec("maplog-ship", argc, argv);
}
