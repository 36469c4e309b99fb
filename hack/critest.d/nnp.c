/* The program of critest's nonewprivs image, as a stand-in: installed setuid root, it reports the effective
 * uid it got, which is 0 unless no_new_privs kept the setuid bit from taking effect. */
#include <stdio.h>
#include <unistd.h>

int main(void) {
  printf("Effective uid: %d\n", (int)geteuid());
  return 0;
}
