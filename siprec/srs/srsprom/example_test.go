package srsprom_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/voicegw/voicegw/insights/memindex"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/sip"
	"github.com/voicegw/voicegw/siprec"
	"github.com/voicegw/voicegw/siprec/srs"
	"github.com/voicegw/voicegw/siprec/srs/srsprom"
	"github.com/voicegw/voicegw/storage/bucketconfig"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/memstore"
)

// A recording server whose metrics are served at /metrics (promhttp over
// reg): one real call, first challenged for digest credentials, then
// recorded; the metrics say so.
func ExampleNew() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "srsprom-example-")
	defer os.RemoveAll(dir)
	bucketDir := filepath.Join(dir, "bucket")
	_ = os.MkdirAll(bucketDir, 0o750)
	tenants := memstore.NewStore(nil)
	acct, err := tenants.CreateAccount(ctx, &tenancy.Account{
		Name: "acme", SIPRealm: "acme.example",
		SIP: tenancy.SIPAccess{Users: []tenancy.SIPUser{{Username: "sbc", Password: "correct-horse-battery-staple"}}},
		Recording: tenancy.RecordingConfig{Enabled: true, RecordAllCalls: true, Format: tenancy.FormatWAV,
			Bucket: bucketconfig.Config{Vendor: bucketconfig.VendorFile, File: &bucketconfig.File{Dir: bucketDir}}},
	})
	if err != nil {
		log.Fatal(err)
	}

	reg := prometheus.NewRegistry() // a registry of the program's own (promhttp.HandlerFor(reg, …) serves it)
	metrics, err := srsprom.New(reg, srsprom.Options{MaxAccounts: 50})
	if err != nil {
		log.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	server, err := srs.New(ctx, srs.Config{
		Tenants: tenants, DefaultAccount: acct.SID, Index: memindex.NewIndex(),
		RecordingDir: filepath.Join(dir, "recordings"), SpoolDir: filepath.Join(dir, "spool"),
		Listeners: []net.Listener{l},
		TCP:       sip.ListenerConfig{OnEvent: metrics.TransportEvent},
		Observer:  metrics,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer server.Close()
	// /readyz (mounted on the program's mux) and voicegw_ready: the SIP
	// check here; a program adds its stores' and directories'
	ready := srs.NewReadiness(srs.ReadinessConfig{Checks: []srs.ReadyCheck{server.ReadyCheck()}, CacheFor: -1})
	if err := errors.Join(metrics.Watch(server), metrics.WatchReadiness(ready)); err != nil {
		log.Fatal(err)
	}
	go server.Serve(ctx)
	<-server.Ready()

	recordACall("sip:srs@"+l.Addr().String()+";transport=tcp", "sbc", "correct-horse-battery-staple")
	_ = server.Shutdown(ctx) // every session finished and uploaded

	families, _ := reg.Gather()
	for _, f := range families {
		switch f.GetName() {
		case "voicegw_calls_total", "voicegw_account_calls_total", "voicegw_sessions_ended_total",
			"voicegw_recordings_written_total", "voicegw_recordings_uploaded_total", "voicegw_sessions_active", "voicegw_ready":
			for _, m := range f.GetMetric() {
				var labels []string
				for _, l := range m.GetLabel() {
					v := l.GetValue()
					if v == string(acct.SID) {
						v = "ACME_SID"
					}
					labels = append(labels, l.GetName()+"="+v)
				}
				fmt.Println(f.GetName(), labels, m.GetCounter().GetValue()+m.GetGauge().GetValue())
			}
		case "voicegw_rtp_packets_received_total":
			fmt.Println(f.GetName(), "> 0:", f.GetMetric()[0].GetCounter().GetValue() > 0)
		}
	}
	fmt.Println("health after Shutdown:", server.Health().Status)
	// Output:
	// voicegw_account_calls_total [account=ACME_SID result=accepted] 1
	// voicegw_account_calls_total [account=ACME_SID result=challenged] 1
	// voicegw_calls_total [reason= result=accepted] 1
	// voicegw_calls_total [reason=credentials_required result=challenged] 1
	// voicegw_ready [] 0
	// voicegw_recordings_uploaded_total [] 1
	// voicegw_recordings_written_total [format=wav] 1
	// voicegw_rtp_packets_received_total > 0: true
	// voicegw_sessions_active [] 0
	// voicegw_sessions_ended_total [reason=bye] 1
	// health after Shutdown: shutting_down
}

// recordACall records one second of silence through srsURI, as a
// recording client (siprec's) with digest credentials.
func recordACall(srsURI, user, password string) {
	ctx := context.Background()
	uri, _ := siprec.ParseURI(srsURI)
	client, err := siprec.NewClient(siprec.ClientConfig{ListenAddr: netip.MustParseAddrPort("127.0.0.1:0"),
		Logger: slog.New(slog.DiscardHandler), Username: user, Password: secret.String(password)})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	calls, _ := client.NewManager(siprec.ManagerConfig{})
	if _, err := calls.Start(ctx, siprec.StartRequest{Recorders: siprec.URIList{uri}}); err != nil {
		log.Fatal(err)
	}
	for range 50 { // 20 ms packets
		for _, fork := range calls.Forks() {
			_ = fork.WritePCM(make([]int16, 160))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := calls.Stop(ctx); err != nil {
		log.Fatal(err)
	}
}
