/* hsup status | stop | restart | scale: clients of a running hsup's control API. */
#ifndef HS_CLIENT_H
#define HS_CLIENT_H

struct hs_cli;

/* Runs the command and returns hsup's exit code. */
int hs_client_main(const struct hs_cli *cli);

#endif
