//go:build !linux

package media

import "testing"

// workerLoads returns how many Receivers each of p's workers serves: none,
// as a Poller has no workers here.
func workerLoads(*Poller) []int { return nil }

func steeredDatagrams(*Poller) uint64 { return 0 }

func waitSteered(*testing.T, *Receiver) {}
