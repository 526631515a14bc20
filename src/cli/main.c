/* bindguard - command-line front end of libbindguard.so. */
#include <stdio.h>
#include <string.h>

#include "bg_config.h"
#include "bindguard.h"

static const char usage[] =
    "usage: bindguard COMMAND [ARGS]\n"
    "\n"
    "Windows Server 2003+ exclusive-address rules for bind(), for unmodified programs.\n"
    "\n"
    "commands:\n"
    "  run [OPTIONS] -- CMD ARGS...   run CMD with libbindguard.so preloaded\n"
    "  --help                         this text\n"
    "  --version                      print the version\n";

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("bindguard %s\n", BINDGUARD_VERSION_STRING);
        return 0;
    }
    fprintf(stderr, "bindguard: unknown command '%s' (see bindguard --help)\n", argv[1]);
    return 2;
}
