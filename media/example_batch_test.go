package media_test

import (
	"fmt"
	"net"

	"github.com/voicegw/voicegw/media"
)

// A program sending many streams from one socket (a load generator, a
// recording client forking thousands of calls) queues each 20 ms round of
// packets on a BatchWriter and flushes once: the round leaves in a few
// sendmmsg calls instead of one system call per packet.
func ExampleBatchWriter() {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rx.Close()

	bw, err := media.NewBatchWriter(conn)
	if err != nil {
		fmt.Println(err)
		return
	}
	var senders []*media.Sender
	for range 3 { // three streams to one receiver, from the shared socket
		s, err := media.NewSender(bw, rx.LocalAddr().(*net.UDPAddr).AddrPort(), media.SenderConfig{})
		if err != nil {
			fmt.Println(err)
			return
		}
		senders = append(senders, s)
	}
	frame := make([]byte, 160)  // 20 ms of PCMU
	for _, s := range senders { // one round, every 20 ms
		_ = s.WriteEncoded(frame)
	}
	fmt.Println("queued:", bw.Queued())
	if err := bw.Flush(); err != nil {
		fmt.Println(err)
	}
	buf := make([]byte, 1500)
	for range senders {
		n, _, _ := rx.ReadFromUDPAddrPort(buf)
		fmt.Println("received", n, "bytes")
	}
	// Output:
	// queued: 3
	// received 172 bytes
	// received 172 bytes
	// received 172 bytes
}
