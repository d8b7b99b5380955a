/* `sluice passwd USER`: print "USER:$argon2id$..." for an --auth-file. */
#ifndef SLUICE_APP_PASSWD_H
#define SLUICE_APP_PASSWD_H

/* Returns the process exit status. */
int passwd_main(int argc, char **argv);

#endif
