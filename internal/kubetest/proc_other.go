//go:build !linux

package kubetest

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }

func processGone(int) bool { return false }
