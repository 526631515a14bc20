/* bindguard - command-line front end of libbindguard.so: dispatch and the top-level
 * --help/--version. Each command lives in its own file (cli.h). */
#include <stdio.h>
#include <string.h>

#include "bg_config.h"
#include "cli.h"

static const struct cli_command *const commands[] = {
    &cli_run, &cli_shell, &cli_audit, &cli_list, &cli_check, &cli_explain, &cli_matrix,
    &cli_gc, &cli_demo, &cli_doctor,
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fputs("usage: bindguard COMMAND [ARGS]\n"
          "\n"
          "Windows Server 2003+ exclusive-address rules for bind(), for unmodified programs.\n"
          "\n"
          "commands:\n", out);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-9s %s\n", commands[i]->name, commands[i]->summary);
    fputs("\n"
          "  bindguard COMMAND --help   that command's options\n"
          "  bindguard --version        the version\n"
          "\n"
          "See bindguard(1) and libbindguard(7).\n", out);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage("no command given (see bindguard --help)");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0)
        return usage(stdout), 0;
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("bindguard %s\n", BINDGUARD_VERSION_STRING);
        return 0;
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(argv[1], commands[i]->name) == 0)
            return commands[i]->run(commands[i], argc - 1, argv + 1);
    return cli_usage("unknown command '%s' (see bindguard --help)", argv[1]);
}
