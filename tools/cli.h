/* cli.h -- the maplog tool as a function, so the fuzz target for dump drives the real code. */
#ifndef MAPLOG_CLI_H
#define MAPLOG_CLI_H

#include <stdio.h>

/* Where command output goes (stdout unless set). */
extern FILE *cli_out;
/* Run the tool: argv[0] is "maplog", argv[1] the command.  Returns the exit status. */
int maplog_cli_main(int argc, char **argv);
/* `maplog ship` (ship.c); without libnats it says how to get it. */
int maplog_cli_ship(int argc, char **argv);

#endif
