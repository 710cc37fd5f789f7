//go:build !linux

package media

// workerLoads returns how many Receivers each of p's workers serves: none,
// as a Poller has no workers here.
func workerLoads(*Poller) []int { return nil }
