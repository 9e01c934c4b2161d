//go:build linux

package kubetest

import "syscall"

// sysProcAttr kills the child when the test binary dies, so a crashed or
// killed test never leaves etcd/kube-apiserver running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}

func processGone(pid int) bool {
	return syscall.Kill(pid, 0) == syscall.ESRCH
}
