// Runs a command as root of a new user namespace (uid and gid 65534 outside it, so no
// capability in the initial one) with a bpffs mounted at DIR that delegates BPF to that
// namespace: what a BPF token (Linux 6.9+) is for. The kernel lets only a privileged
// process set the delegate_* options, on a bpffs whose fs context was opened inside the
// user namespace, so the two processes share the work over a socket pair:
//   child:  drops to 65534, unshare(CLONE_NEWUSER)        parent: writes uid_map/gid_map
//   child:  unshare(CLONE_NEWNS), fsopen("bpf") ─ fd ──▶   parent: fsconfig(delegate_*),
//           move_mount() to DIR  ◀── mount fd ───────────          FSCONFIG_CMD_CREATE, fsmount()
//   child:  exec CMD
// Usage: token-userns DIR CMD [ARG...]. Exit status: CMD's; 90 + step when a step fails,
// with "token-userns: STEP: ERROR" on stderr.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/mount.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const unsigned OUTSIDE_ID = 65534;

static void fail(int step, const char *what) {
  fprintf(stderr, "token-userns: %s: %s\n", what, strerror(errno));
  exit(90 + step);
}

static void send_fd(int sock, int fd) {
  char byte = 'f';
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof(control.buf)};
  struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
  if (sendmsg(sock, &msg, 0) != 1) fail(1, "sendmsg");
}

static int recv_fd(int sock) {
  char byte;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof(control.buf)};
  if (recvmsg(sock, &msg, 0) != 1) fail(2, "recvmsg");
  struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
  if (cmsg == NULL || cmsg->cmsg_type != SCM_RIGHTS) {
    errno = EPROTO;
    fail(2, "recvmsg (the other side failed)");
  }
  int fd;
  memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
  return fd;
}

static void expect_byte(int sock, char want) {
  char got;
  if (read(sock, &got, 1) != 1 || got != want) {
    errno = EPROTO;
    fail(3, "handshake (the other side failed)");
  }
}

static void write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY);
  if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) fail(4, path);
  close(fd);
}

static int child(int sock, const char *dir, char **argv) {
  if (setgroups(0, NULL) < 0 || setresgid(OUTSIDE_ID, OUTSIDE_ID, OUTSIDE_ID) < 0 || setresuid(OUTSIDE_ID, OUTSIDE_ID, OUTSIDE_ID) < 0) fail(5, "drop to uid 65534");
  if (unshare(CLONE_NEWUSER) < 0) fail(6, "unshare(CLONE_NEWUSER)");
  if (write(sock, "u", 1) != 1) fail(1, "write");
  expect_byte(sock, 'm');  // the parent wrote our uid and gid maps
  if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) fail(7, "become root of the user namespace");
  if (unshare(CLONE_NEWNS) < 0) fail(8, "unshare(CLONE_NEWNS)");
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) fail(8, "make / private");
  int fs_fd = (int)syscall(SYS_fsopen, "bpf", 0);
  if (fs_fd < 0) fail(9, "fsopen(\"bpf\") in the user namespace");
  send_fd(sock, fs_fd);
  int mnt_fd = recv_fd(sock);
  if (syscall(SYS_move_mount, mnt_fd, "", AT_FDCWD, dir, MOVE_MOUNT_F_EMPTY_PATH) < 0) fail(10, "move_mount() of the bpffs");
  close(mnt_fd);
  close(fs_fd);
  close(sock);
  execvp(argv[0], argv);
  fail(11, argv[0]);
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: token-userns DIR CMD [ARG...]\n");
    return 2;
  }
  int socks[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, socks) < 0) fail(0, "socketpair");
  pid_t pid = fork();
  if (pid < 0) fail(0, "fork");
  if (pid == 0) {
    close(socks[0]);
    return child(socks[1], argv[1], argv + 2);
  }
  close(socks[1]);
  int sock = socks[0];
  char path[64], map[64];
  expect_byte(sock, 'u');
  snprintf(map, sizeof(map), "0 %u 1\n", OUTSIDE_ID);
  snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
  write_file(path, map);
  snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
  write_file(path, map);
  if (write(sock, "m", 1) != 1) fail(1, "write");

  int fs_fd = recv_fd(sock);
  static const char *const delegate[] = {"delegate_cmds", "delegate_maps", "delegate_progs", "delegate_attachs"};
  for (size_t i = 0; i < sizeof(delegate) / sizeof(delegate[0]); i++) {
    if (syscall(SYS_fsconfig, fs_fd, FSCONFIG_SET_STRING, delegate[i], "any", 0) < 0) fail(12, delegate[i]);
  }
  if (syscall(SYS_fsconfig, fs_fd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) fail(13, "fsconfig(FSCONFIG_CMD_CREATE)");
  int mnt_fd = (int)syscall(SYS_fsmount, fs_fd, 0, 0);
  if (mnt_fd < 0) fail(14, "fsmount()");
  send_fd(sock, mnt_fd);
  close(mnt_fd);
  close(fs_fd);

  int status;
  if (waitpid(pid, &status, 0) < 0) fail(0, "waitpid");
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
