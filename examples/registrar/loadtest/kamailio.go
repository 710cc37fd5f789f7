package main

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/template"
	"time"
)

// kamailioInstall is how to get Kamailio on Debian and Ubuntu.
const kamailioInstall = "apt-get install -y kamailio"

//go:embed testdata/kamailio-registrar.cfg
var kamailioConfig string

// kamailioParams fill in testdata/kamailio-registrar.cfg.
type kamailioParams struct {
	Addr           string // host:port of both listen sockets
	Children       int    // worker processes per listen socket
	Realm          string
	User, Password string
}

// writeKamailioConfig writes the anchor's configuration for p into dir
// (mode 0600: it holds the password) and returns its path.
func writeKamailioConfig(dir string, p kamailioParams) (string, error) {
	tmpl, err := template.New("kamailio").Option("missingkey=error").Parse(kamailioConfig)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, p); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "kamailio.cfg")
	return path, os.WriteFile(path, b.Bytes(), 0o600)
}

// kamailio is a running Kamailio: a main process (in the foreground, -DD)
// and the workers it forks.
type kamailio struct {
	cmd  *exec.Cmd
	log  *bytes.Buffer
	addr string
	done chan struct{}
}

// startKamailio starts Kamailio at path with the anchor's configuration
// on addr (UDP and TCP) and waits until it answers over UDP.
func startKamailio(path, dir string, p kamailioParams) (*kamailio, error) {
	cfg, err := writeKamailioConfig(dir, p)
	if err != nil {
		return nil, err
	}
	if out, err := exec.Command(path, "-c", "-f", cfg).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("kamailio -c refuses the configuration: %v\n%s", err, out)
	}
	run := filepath.Join(dir, "run")
	if err := os.MkdirAll(run, 0o700); err != nil {
		return nil, err
	}
	k := &kamailio{log: &bytes.Buffer{}, addr: p.Addr, done: make(chan struct{})}
	// -DD: the main process stays in the foreground (our child), workers
	// are its children; -E: log to stderr.
	k.cmd = exec.Command(path, "-f", cfg, "-DD", "-E", "-Y", run, "-P", filepath.Join(run, "kamailio.pid"))
	k.cmd.Stdout, k.cmd.Stderr = k.log, k.log
	k.cmd.Dir = dir
	if err := k.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = k.cmd.Wait(); close(k.done) }()
	if err := k.waitReady(10 * time.Second); err != nil {
		k.stop()
		return nil, fmt.Errorf("%w\n%s", err, k.log.String())
	}
	// the first worker may answer before the main process has forked the
	// others: wait until the process tree stops growing
	n, same := 0, 0
	for deadline := time.Now().Add(5 * time.Second); same < 3 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		if m := len(k.pids()); m == n {
			same++
		} else {
			n, same = m, 0
		}
	}
	return k, nil
}

// waitReady sends OPTIONS (answered 405 by the configuration) until an
// answer comes.
func (k *kamailio) waitReady(within time.Duration) error {
	c, err := net.Dial("udp", k.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	local := c.LocalAddr().String()
	deadline := time.Now().Add(within)
	buf := make([]byte, 4096)
	for i := 0; time.Now().Before(deadline); i++ {
		select {
		case <-k.done:
			return errors.New("kamailio exited before answering")
		default:
		}
		msg := fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-ready-%d\r\nMax-Forwards: 70\r\n"+
			"From: <sip:probe@%s>;tag=probe\r\nTo: <sip:probe@%s>\r\nCall-ID: ready-%d@%s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
			k.addr, local, i, local, k.addr, i, local)
		_, _ = c.Write([]byte(msg))
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if n, err := c.Read(buf); err == nil && bytes.HasPrefix(buf[:n], []byte("SIP/2.0 ")) {
			return nil
		}
	}
	return fmt.Errorf("kamailio did not answer on %s within %s", k.addr, within)
}

// pids returns the main process and every process it forked.
func (k *kamailio) pids() []int { return processTree(k.cmd.Process.Pid) }

// stop ends Kamailio (SIGTERM: the main process stops its workers) and
// waits for it.
func (k *kamailio) stop() {
	_ = k.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-k.done:
	case <-time.After(10 * time.Second):
		_ = k.cmd.Process.Kill()
		<-k.done
	}
}

// processTree returns root and its descendants, from /proc.
func processTree(root int) []int {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		st, err := readStat(pid)
		if err != nil {
			continue
		}
		children[st.ppid] = append(children[st.ppid], pid)
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// procStat is what the harness reads of /proc/PID/stat.
type procStat struct {
	ppid int
	cpu  time.Duration // utime + stime
}

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ,
// 100 on Linux for every architecture Go supports).
const clockTick = 10 * time.Millisecond

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// the command name, in parentheses, may hold spaces: the fields
	// counted below start after its closing parenthesis
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	var st procStat
	var ut, stime int64
	if _, err := fmt.Sscan(f[1], &st.ppid); err != nil {
		return procStat{}, err
	}
	if _, err := fmt.Sscan(f[11], &ut); err != nil {
		return procStat{}, err
	}
	if _, err := fmt.Sscan(f[12], &stime); err != nil {
		return procStat{}, err
	}
	st.cpu = time.Duration(ut+stime) * clockTick
	return st, nil
}

// cpuOf sums the CPU time of pids (processes gone are left out).
func cpuOf(pids []int) time.Duration {
	var sum time.Duration
	for _, pid := range pids {
		if st, err := readStat(pid); err == nil {
			sum += st.cpu
		}
	}
	return sum
}
