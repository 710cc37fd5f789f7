//go:build !linux

package recording

import "runtime"

// lowerPriority does nothing: thread priorities are set on Linux only.
func lowerPriority(n int) {}

// yielder lets other goroutines run (see the Linux version, which also
// lets the scheduler poll the network).
type yielder struct{}

func newYielder() *yielder { return nil }
func (y *yielder) yield()  { runtime.Gosched() }
func (y *yielder) close()  {}
