/* maplog-main.c -- the maplog tool's main(); everything else is in this folder (main.c dispatches).
 */
#include "cli.h"

int main(int argc, char **argv)
{
    return maplog_cli_main(argc, argv);
}
