//go:build !linux

package recording

import "time"

// yielder lets other goroutines run and the scheduler poll the network
// (see the Linux version): a short sleep parks the goroutine, and a P with
// nothing else to run then polls the network (runtime.Gosched would not:
// the encoder would be run again at once).
type yielder struct{}

func newYielder() *yielder { return nil }
func (y *yielder) yield()  { time.Sleep(yieldPark) }
func (y *yielder) close()  {}
