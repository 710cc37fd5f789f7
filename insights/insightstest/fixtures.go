// Package insightstest is the conformance suite of session index drivers:
// RunConformanceTests runs every example query of seed 004 against a
// fixture set of sessions with the expected hits, get/find/delete, account
// isolation, sorting and projection, and a randomized comparison with
// insights.Evaluate (the reference semantics). Every driver's tests call it.
package insightstest

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"time"

	"github.com/voicegw/voicegw/insights"
)

// Accounts of the fixtures.
const (
	Account      = "acct-1"
	OtherAccount = "acct-2"
	// SeedAccount is the account of seed 004's example document.
	SeedAccount = "5f7f277cf090a7001116fabe"
)

func at(s string) insights.Time {
	t, err := insights.ParseTime(s)
	if err != nil {
		return insights.Time{}
	}
	return t
}

type fixture struct {
	id, account, start, agent, agentName, agentID, status, source, client string
	requestIDs                                                            []string
	tags                                                                  []string
	duration                                                              int64
}

// Fixtures returns the sessions the conformance suite indexes:
//
//   - s-a1…s-a6 in Account (2020-09-15…18) and s-b1 in OtherAccount, with
//     agents, transcriptions, request IDs and tags for the example filters
//     of seed 004;
//   - day-00…day-34 in Account on 2020-08-20 (every 40 minutes from
//     midnight; agent_id agent-1, agent-2, agent-3 in turn; distinct
//     durations) and two sessions just outside that day, for the example
//     URLs and the call-log examples;
//   - seed 004's example document (SeedAccount, 2020-10-08).
func Fixtures() []*insights.Session {
	fx := []fixture{
		{"s-a1", Account, "2020-09-15T09:00:00", "1234567", "Support", "agent-1", "ended", "9726666666", "Please shut up and listen", []string{"22"}, []string{"cat", "dog", "rat"}, 30000},
		{"s-a2", Account, "2020-09-15T12:30:00", "1234567", "Support", "agent-2", "ended", "9726666666", "I love this agent!", []string{"44", "45"}, []string{"cat", "dog"}, 90000},
		{"s-a3", Account, "2020-09-16T08:15:00", "1234567", "Support", "agent-1", "in_progress", "9726666666", "SHUT UP!!", []string{"99"}, []string{"cat", "dog", "rat", "invalid"}, 5000},
		{"s-a4", Account, "2020-09-16T20:45:10.5", "7654321", "Billing", "agent-3", "ended", "5551234", "shut the door. Grüße aus MÜNCHEN, ¿qué tal?", []string{"22"}, []string{"dog"}, 45000},
		{"s-a5", Account, "2020-09-17T23:59:59.999999", "1234567", "Support", "agent-2", "ended", "9726666666", "upbeat shutdown", nil, []string{"rat", "invalid"}, 12000},
		{"s-a6", Account, "2020-09-18T00:00:00", "1234567", "Support", "agent-1", "ended", "9726666666", "shut up", nil, nil, 60000},
		{"s-b1", OtherAccount, "2020-09-16T10:00:00", "1234567", "Support", "agent-1", "ended", "9726666666", "shut up", []string{"22"}, []string{"cat", "dog", "rat"}, 1000},
		{"edge-before", Account, "2020-08-19T23:59:59.999999", "7654321", "Billing", "agent-1", "ended", "5550000", "hello", nil, nil, 1000},
		{"edge-after", Account, "2020-08-21T00:00:00", "7654321", "Billing", "agent-2", "ended", "5550000", "hello", nil, nil, 1000},
	}
	day := time.Date(2020, 8, 20, 0, 0, 0, 0, time.UTC)
	for i := range 35 {
		fx = append(fx, fixture{
			id: fmt.Sprintf("day-%02d", i), account: Account,
			start: insights.TimeOf(day.Add(time.Duration(i) * 40 * time.Minute)).String(),
			agent: "7654321", agentName: "Billing", agentID: fmt.Sprintf("agent-%d", i%3+1),
			status: "ended", source: fmt.Sprintf("55500%02d", i), client: "thanks",
			duration: int64(1000 * ((i*17)%35 + 1)),
		})
	}
	var out []*insights.Session
	for _, f := range fx {
		s := &insights.Session{
			ID: f.id, AccountID: f.account, APIKey: "N/A", Status: f.status, Language: "en-US",
			Channel: "voice", Source: f.source, Destination: "972523656841",
			SessionStartTime: at(f.start), AgentID: f.agentID,
			AgentInformation: insights.AgentInformation{ID: f.agent, Name: f.agentName, Voice: "Salli", Language: "en-US", VersionID: "v-" + f.agent},
			ChannelData:      insights.ChannelData{Duration: f.duration, CallStatus: f.status, AudioURL: f.account + "/" + f.agent + "/" + f.id + ".wav"},
			Transcription:    []insights.Utterance{{Speaker: f.agentID, Text: "How can I help?"}, {Speaker: "client", Text: f.client}},
			RequestIDs:       f.requestIDs,
		}
		s.ChannelData.SetStatusCode(insights.StatusCodeOK)
		for _, tag := range f.tags {
			s.FlowData.CollectedTags = append(s.FlowData.CollectedTags, insights.Tag{Tag: tag, Category: "animals"})
		}
		out = append(out, s)
	}
	var seed insights.Session
	if err := json.Unmarshal(seedDocument, &seed); err == nil {
		out = append(out, &seed)
	}
	return out
}

//go:embed testdata/seed004_session.json
var seedDocument []byte

// SeedDocument returns the session of seed 004's example output document
// (a fresh copy).
func SeedDocument() []byte { return append([]byte(nil), seedDocument...) }
