package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestCPUGroupHoldsAProcessBack runs a busy loop in a group with a fifth
// of a core and checks that the kernel throttled it, and that the group
// goes away after. It needs the cgroup CPU controller, writable (root).
func TestCPUGroupHoldsAProcessBack(t *testing.T) {
	if err := cpuControllerWritable(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("-core-share: %v", err)
		}
		t.Skipf("-core-share: %v", err)
	}
	if _, err := newCPUGroup("voicegw-capacity-test", 0.05); err == nil || !strings.Contains(err.Error(), "core share 0.05: below 0.1") {
		t.Errorf("share 0.05: %v, want the quota refused as below 1 ms", err)
	}
	g, err := newCPUGroup(fmt.Sprintf("voicegw-capacity-test-%d", os.Getpid()), 0.2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.remove() })
	busy := exec.Command("sh", "-c", "while :; do :; done")
	if err := busy.Start(); err != nil {
		t.Fatal(err)
	}
	if err := g.add(busy.Process.Pid); err != nil {
		_ = busy.Process.Kill()
		_ = busy.Wait()
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // 30 periods of 10 ms
	_ = busy.Process.Kill()
	_ = busy.Wait()
	periods, throttled, d := g.throttled()
	if throttled == 0 || d == 0 {
		t.Errorf("a busy loop held to 20%% of a core: throttled in %d of %d periods, %v: want throttled", throttled, periods, d)
	}
	if err := g.remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(g.dir); !os.IsNotExist(err) {
		t.Errorf("%s still there after remove: %v", g.dir, err)
	}
}
