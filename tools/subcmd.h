/* subcmd.h -- maplog commands that are executables of their own (maplog-ship), found and
 * exec'd the way git runs its subcommands, so the maplog tool links none of their
 * libraries. */
#ifndef MAPLOG_SUBCMD_H
#define MAPLOG_SUBCMD_H

/* Run the executable prog (such as "maplog-ship") in place of this process, with argv[1..]
 * as its arguments and prog as its argv[0]; argv[0] is the command's name as the user
 * typed it ("ship"), used in messages.  prog is looked for, in this order, in the directory
 * $MAPLOG_EXEC_PATH names (when set), in the directory of the running maplog, and in
 * <that directory>/../libexec/maplog.  Returns only on failure, after saying why on
 * stderr: 1 when prog is in none of them or cannot be run. */
int maplog_cli_exec(const char *prog, int argc, char **argv);

/* `maplog ship`: maplog_cli_exec("maplog-ship", argc, argv). */
int maplog_cli_ship(int argc, char **argv);

#endif
