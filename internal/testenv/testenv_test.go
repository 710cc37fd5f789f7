package testenv

import (
	"net"
	"strconv"
	"testing"
)

func TestFreePortIsBindable(t *testing.T) {
	p := FreePort(t)
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		t.Fatalf("FreePort gave %d, which is not free for TCP: %v", p, err)
	}
	l.Close()
	u, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		t.Fatalf("FreePort gave %d, which is not free for UDP: %v", p, err)
	}
	u.Close()
}

func TestFreeUDPPortPair(t *testing.T) {
	p := FreeUDPPortPair(t)
	if p%2 != 0 {
		t.Fatalf("FreeUDPPortPair gave odd port %d", p)
	}
	for _, q := range []int{p, p + 1} {
		u, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(q))
		if err != nil {
			t.Fatalf("port %d not free: %v", q, err)
		}
		u.Close()
	}
}

func TestRequireToolFindsShell(t *testing.T) {
	if p := RequireTool(t, "sh", "apt-get install -y dash"); p == "" {
		t.Fatal("RequireTool returned an empty path for sh")
	}
}
