package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// A core share: the gateway's process is put in a cgroup of the kernel's
// CPU controller whose CFS bandwidth quota lets it run share × period of
// every period, on the one core -pin gives it. When the load generator
// cannot offer a whole core's worth of calls (on a 2-core machine its own
// sends, and the kernel delivering them on loopback, take the other core
// before the gateway's is full), a level recorded within half a core,
// every check holding, is what a core records twice over, measured with
// the generator below its limit: the figure is the gateway's, not the
// generator's.
//
// The period is short so that a throttled gateway is never held for long:
// its receive buffers and the recorders' timelines see at most
// (1 - share) × period of delay at a time.
const sharePeriod = 10 * time.Millisecond

// cpuGroup is a cgroup made for one gateway, with its quota set.
type cpuGroup struct {
	dir string
	v2  bool
}

// errNoCPUController is returned when the machine has no cgroup CPU
// controller that this process may write to.
var errNoCPUController = errors.New("no writable cgroup CPU controller (cgroup v1 /sys/fs/cgroup/cpu or a cgroup v2 hierarchy with the cpu controller; run as root)")

// newCPUGroup makes a cgroup named name whose processes get share of one
// core (0 < share ≤ 1), in the cgroup v1 cpu hierarchy or else the cgroup
// v2 one.
func newCPUGroup(name string, share float64) (*cpuGroup, error) {
	if err := checkShare(share); err != nil {
		return nil, fmt.Errorf("core share %w", err)
	}
	period := sharePeriod.Microseconds()
	quota := int64(share * float64(period))
	root, v2 := cpuHierarchy()
	if root == "" {
		return nil, errNoCPUController
	}
	g := &cpuGroup{dir: filepath.Join(root, name), v2: v2}
	if err := os.Mkdir(g.dir, 0o755); err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", g.dir, err)
	}
	var err error
	if v2 {
		err = g.write("cpu.max", fmt.Sprintf("%d %d", quota, period))
	} else if err = g.write("cpu.cfs_period_us", strconv.FormatInt(period, 10)); err == nil {
		err = g.write("cpu.cfs_quota_us", strconv.FormatInt(quota, 10))
	}
	if err != nil {
		_ = os.Remove(g.dir)
		return nil, err
	}
	return g, nil
}

// checkShare says what is wrong with a core share, if anything: it is a
// fraction of one core (NaN is not) whose quota is at least the kernel's
// 1 ms per period.
func checkShare(share float64) error {
	if !(share > 0 && share <= 1) {
		return fmt.Errorf("%v: want a fraction of one core, above 0 and at most 1", share)
	}
	if min := float64(time.Millisecond) / float64(sharePeriod); share < min {
		return fmt.Errorf("%v: below %v, a quota under the kernel's 1 ms minimum per %v", share, min, sharePeriod)
	}
	return nil
}

// cpuHierarchy finds where CPU bandwidth can be set: the cgroup v1 cpu
// hierarchy's mount point, or a cgroup v2 mount whose root has the cpu
// controller enabled for its children (v2 true). "" when neither.
func cpuHierarchy() (dir string, v2 bool) {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return "", false
	}
	defer f.Close()
	var unified string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 {
			continue
		}
		switch fields[2] {
		case "cgroup":
			for _, opt := range strings.Split(fields[3], ",") {
				if opt == "cpu" {
					return fields[1], false
				}
			}
		case "cgroup2":
			if unified == "" {
				unified = fields[1]
			}
		}
	}
	if unified == "" {
		return "", false
	}
	b, err := os.ReadFile(filepath.Join(unified, "cgroup.subtree_control"))
	if err != nil || !strings.Contains(" "+strings.TrimSpace(string(b))+" ", " cpu ") {
		return "", false
	}
	return unified, true
}

// cpuControllerWritable reports errNoCPUController unless a group can be
// made in the CPU hierarchy here (root, a writable cgroup file system).
func cpuControllerWritable() error {
	root, _ := cpuHierarchy()
	if root == "" {
		return errNoCPUController
	}
	probe := filepath.Join(root, fmt.Sprintf("voicegw-capacity-probe-%d", os.Getpid()))
	if err := os.Mkdir(probe, 0o755); err != nil {
		return fmt.Errorf("%w: %v", errNoCPUController, err)
	}
	return os.Remove(probe)
}

func (g *cpuGroup) write(file, value string) error {
	if err := os.WriteFile(filepath.Join(g.dir, file), []byte(value), 0o644); err != nil {
		return fmt.Errorf("cgroup %s: %w", file, err)
	}
	return nil
}

// add moves process pid, every thread of it, into the group.
func (g *cpuGroup) add(pid int) error {
	return g.write("cgroup.procs", strconv.Itoa(pid))
}

// throttled reads how many periods the quota cut short and for how long
// in all (cpu.stat).
func (g *cpuGroup) throttled() (periods, throttledPeriods int64, d time.Duration) {
	b, err := os.ReadFile(filepath.Join(g.dir, "cpu.stat"))
	if err != nil {
		return 0, 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "nr_periods":
			periods = n
		case "nr_throttled":
			throttledPeriods = n
		case "throttled_time": // v1: ns
			d = time.Duration(n)
		case "throttled_usec": // v2
			d = time.Duration(n) * time.Microsecond
		}
	}
	return periods, throttledPeriods, d
}

// remove deletes the group; its processes must have exited.
func (g *cpuGroup) remove() error {
	var err error
	for range 50 { // the kernel lets go of an exited process's group shortly after
		if err = os.Remove(g.dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("cgroup %s: %w", g.dir, err)
}
