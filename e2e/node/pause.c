/* The pod sandbox's pause process for the e2e node: kubelet 1.20's containerd asks for
 * k8s.gcr.io/pause:3.2, which cannot be pulled here. It waits for a signal, exits on SIGTERM or
 * SIGINT, and reaps children (it is PID 1 of the pod's PID namespace when that is shared).
 * Built with `gcc -static -Os` by e2e/node/provision.sh. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) { (void)sig; _exit(0); }

static void reap(int sig) {
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

int main(void) {
    struct sigaction on_stop = {.sa_handler = stop};
    struct sigaction on_child = {.sa_handler = reap, .sa_flags = SA_NOCLDSTOP};
    if (sigaction(SIGINT, &on_stop, NULL) < 0 || sigaction(SIGTERM, &on_stop, NULL) < 0 ||
        sigaction(SIGCHLD, &on_child, NULL) < 0) {
        return 1;
    }
    for (;;) {
        pause();
    }
}
