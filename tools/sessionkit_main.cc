// The `sessionkit` command-line tool; see cli.h and docs/cli.md.
#include <iostream>

#include "cli.h"

int main(int argc, char** argv) {
  return sessionkit::cli::RunCli(argc, argv, std::cout, std::cerr);
}
