/* PID file: written atomically (temp file + rename), removed at exit. */
#ifndef SLUICE_APP_PIDFILE_H
#define SLUICE_APP_PIDFILE_H

/* The pid a file names if that process is alive (and not us), else 0. */
int pidfile_check(const char *path);
/* Write our pid. 0 or -errno. */
int pidfile_write(const char *path);
/* Remove the file if it still names us. */
void pidfile_remove(const char *path);

#endif
