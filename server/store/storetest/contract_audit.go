package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/audit"
)

// auditReader is the optional method that reads a flow's events back.
type auditReader interface {
	AuditEvents(ctx context.Context, flow string) ([]audit.Event, error)
}

// TestAuditRecorder is the contract of audit.Recorder: every event
// recorded, concurrent ones included, is kept whole, and a flow's events
// read back oldest first when the store can read them.
func TestAuditRecorder(t *testing.T, open func(t *testing.T) audit.Recorder) {
	ctx := context.Background()

	t.Run("ConcurrentEventsAreAllKept", func(t *testing.T) {
		s := open(t)
		at := instant(time.Now())
		event := func(i int) audit.Event {
			return audit.Event{At: at.Add(time.Duration(i) * time.Second), Action: "recovery.code_failed",
				AccountID: "p001", IP: "192.0.2.1", Outcome: fmt.Sprint("try-", i), Flow: "f1"}
		}
		errs := make([]error, racers)
		Race(racers, func(i int) { errs[i] = s.Record(ctx, event(i)) })
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		if err := s.Record(ctx, audit.Event{At: at, Action: "signin", Outcome: "ok", Flow: "other"}); err != nil {
			t.Fatal(err)
		}
		r, ok := s.(auditReader)
		if !ok {
			return
		}
		got, err := r.AuditEvents(ctx, "f1")
		if err != nil || len(got) != racers {
			t.Fatalf("AuditEvents = %d events, %v; want %d", len(got), err, racers)
		}
		for i, e := range got {
			if want := event(i); e != want && !(e.At.Equal(want.At) && e.Outcome == want.Outcome && e.Action == want.Action &&
				e.AccountID == want.AccountID && e.IP == want.IP && e.Flow == want.Flow) {
				t.Errorf("event %d = %+v, want %+v (oldest first)", i, e, want)
			}
		}
	})
}
