//go:build !linux

package pgtest

import "syscall"

// setPdeathsig does nothing where there is no parent-death signal: a test
// binary that is killed leaves its server running.
func setPdeathsig(*syscall.SysProcAttr) {}
