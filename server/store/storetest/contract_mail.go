package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/mail"
)

// envelope is a pending message created at created, due at due.
func envelope(id string, created, due time.Time) mail.Envelope {
	return mail.Envelope{
		ID: id, Kind: "recovery_code", AccountID: "p001", Sealed: []byte("sealed " + id),
		Status: mail.StatusPending, CreatedAt: created, NextAttemptAt: due, PurgeAt: created.Add(30 * 24 * time.Hour),
	}
}

// outboxReader is the optional method that lets the suite look at a
// message between claims.
type outboxReader interface {
	GetOutbox(ctx context.Context, id string) (mail.Envelope, bool, error)
}

// TestOutboxStore is the contract of mail.Store: each attempt at a
// message is leased to exactly one worker, and only that worker records
// its outcome.
func TestOutboxStore(t *testing.T, open func(t *testing.T) mail.Store) {
	ctx := context.Background()
	at := fixed()
	insert := func(t *testing.T, s mail.Store, es ...mail.Envelope) {
		t.Helper()
		for _, e := range es {
			if err := s.InsertOutbox(ctx, e); err != nil {
				t.Fatalf("InsertOutbox(%s): %v", e.ID, err)
			}
		}
	}

	t.Run("ClaimReturnsTheMessageLeased", func(t *testing.T) {
		s := open(t)
		e := envelope("m1", at, at)
		insert(t, s, e)
		got, ok, err := s.ClaimOutbox(ctx, at, time.Minute, "w1")
		want := e
		want.Status, want.Attempts, want.LeasedBy, want.LeaseUntil = mail.StatusSending, 1, "w1", at.Add(time.Minute)
		if err != nil || !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("ClaimOutbox = %+v, %v, %v\nwant %+v", got, ok, err, want)
		}
	})

	t.Run("ClaimByIDTakesThatMessageWhenDue", func(t *testing.T) {
		s := open(t)
		e := envelope("m1", at, at)
		insert(t, s, e, envelope("later", at, at.Add(time.Hour)), envelope("other", at, at))
		got, ok, err := s.ClaimOutboxByID(ctx, "m1", at, time.Minute, "w1")
		want := e
		want.Status, want.Attempts, want.LeasedBy, want.LeaseUntil = mail.StatusSending, 1, "w1", at.Add(time.Minute)
		if err != nil || !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("ClaimOutboxByID = %+v, %v, %v\nwant %+v", got, ok, err, want)
		}
		for _, c := range []struct{ name, id string }{
			{"leased to another", "m1"}, {"not yet due", "later"}, {"unknown", "nowhere"},
		} {
			if e, ok, err := s.ClaimOutboxByID(ctx, c.id, at.Add(time.Second), time.Minute, "w2"); ok || err != nil {
				t.Errorf("%s: ClaimOutboxByID(%s) = %+v, %v, %v; want nothing", c.name, c.id, e, ok, err)
			}
		}
		if err := s.MarkOutboxSent(ctx, "m1", "w1", at, at.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := s.ClaimOutboxByID(ctx, "m1", at.Add(2*time.Minute), time.Minute, "w2"); ok || err != nil {
			t.Errorf("a sent message was claimed again: %v, %v", ok, err)
		}
		// The message read by id takes over an expired lease, as the poll does.
		if _, ok, _ := s.ClaimOutboxByID(ctx, "other", at, time.Minute, "crashed"); !ok {
			t.Fatal("other not claimed")
		}
		if e, ok, err := s.ClaimOutboxByID(ctx, "other", at.Add(time.Minute+time.Millisecond), time.Minute, "w2"); !ok || err != nil || e.Attempts != 2 || e.LeasedBy != "w2" {
			t.Errorf("after the lease ran out: %+v, %v, %v", e, ok, err)
		}
	})

	t.Run("ConcurrentClaimsByIDLeaseOnce", func(t *testing.T) {
		s := open(t)
		insert(t, s, envelope("m1", at, at))
		const workers = 8
		won := make([]bool, workers)
		errs := make([]error, workers)
		Race(workers, func(w int) {
			_, won[w], errs[w] = s.ClaimOutboxByID(ctx, "m1", at, time.Minute, fmt.Sprint("w", w))
		})
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, ok := range won {
			if ok {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d of %d concurrent claims of one message won; want 1", n, workers)
		}
	})

	t.Run("InsertDuplicateIsErrDuplicate", func(t *testing.T) {
		s := open(t)
		insert(t, s, envelope("m1", at, at))
		if err := s.InsertOutbox(ctx, envelope("m1", at, at)); !errors.Is(err, mail.ErrDuplicate) {
			t.Errorf("second InsertOutbox: err = %v, want mail.ErrDuplicate", err)
		}
	})

	t.Run("ClaimTakesTheDueFirst", func(t *testing.T) {
		s := open(t)
		insert(t, s, envelope("second", at, at.Add(2*time.Minute)), envelope("first", at, at.Add(time.Minute)),
			envelope("later", at, at.Add(5*time.Minute)))
		for _, want := range []string{"first", "second", ""} {
			e, ok, err := s.ClaimOutbox(ctx, at.Add(3*time.Minute), time.Minute, "w")
			if err != nil || ok != (want != "") || e.ID != want {
				t.Errorf("ClaimOutbox = %q, %v, %v; want %q", e.ID, ok, err, want)
			}
		}
	})

	t.Run("LeaseAndOutcomes", func(t *testing.T) {
		s := open(t)
		insert(t, s, envelope("m1", at, at))
		next := at.Add(time.Minute)
		steps := []struct {
			name string
			do   func() error
			want error
		}{
			{"w1 claims", claimStep(s, at, "w1", "m1", 1), nil},
			{"w2 finds nothing during the lease", claimStep(s, at.Add(30*time.Second), "w2", "", 0), nil},
			{"w2 may not mark w1's lease", func() error { return s.MarkOutboxRetry(ctx, "m1", "w2", at, "x") }, mail.ErrLeaseLost},
			{"w1 retries later", func() error { return s.MarkOutboxRetry(ctx, "m1", "w1", next, "451 4.3.0") }, nil},
			{"w1 may not mark it again", func() error { return s.MarkOutboxSent(ctx, "m1", "w1", next, next) }, mail.ErrLeaseLost},
			{"nothing before the retry time", claimStep(s, next.Add(-time.Second), "w2", "", 0), nil},
			{"w2 claims at the retry time", claimStep(s, next, "w2", "m1", 2), nil},
			{"the lease runs until its last instant", claimStep(s, next.Add(time.Minute), "w3", "", 0), nil},
			{"w3 takes over when w2's lease has run out", claimStep(s, next.Add(time.Minute+time.Millisecond), "w3", "m1", 3), nil},
			{"w2 comes back too late", func() error { return s.MarkOutboxSent(ctx, "m1", "w2", next, next) }, mail.ErrLeaseLost},
			{"w3 sends", func() error { return s.MarkOutboxSent(ctx, "m1", "w3", next, next.Add(time.Hour)) }, nil},
			{"a sent message is never claimed", claimStep(s, next.Add(time.Hour), "w4", "", 0), nil},
			{"a sent message cannot fail", func() error { return s.MarkOutboxFailed(ctx, "m1", "w3", next, next, "x") }, mail.ErrLeaseLost},
		}
		for _, st := range steps {
			if err := st.do(); !errors.Is(err, st.want) {
				t.Fatalf("%s: err = %v, want %v", st.name, err, st.want)
			}
		}
		r, ok := s.(outboxReader)
		if !ok {
			return
		}
		e, found, err := r.GetOutbox(ctx, "m1")
		if err != nil || !found || e.Status != mail.StatusSent || e.Sealed != nil || !e.DoneAt.Equal(next) ||
			!e.PurgeAt.Equal(next.Add(time.Hour)) || e.LastError != "451 4.3.0" || e.Attempts != 3 {
			t.Errorf("after sending: %+v, %v, %v", e, found, err)
		}
	})

	t.Run("FailedDropsTheMessage", func(t *testing.T) {
		s := open(t)
		insert(t, s, envelope("m1", at, at))
		if err := claimStep(s, at, "w", "m1", 1)(); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkOutboxFailed(ctx, "m1", "w", at, at.Add(time.Hour), "550 5.1.1"); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := s.ClaimOutbox(ctx, at.Add(time.Minute), time.Minute, "w"); ok || err != nil {
			t.Errorf("a failed message was claimed again: %v, %v", ok, err)
		}
		if r, ok := s.(outboxReader); ok {
			if e, _, err := r.GetOutbox(ctx, "m1"); err != nil || e.Status != mail.StatusFailed || e.Sealed != nil || e.LastError != "550 5.1.1" {
				t.Errorf("after failing: %+v, %v", e, err)
			}
		}
	})

	t.Run("Stats", func(t *testing.T) {
		s := open(t)
		if n, oldest, err := s.OutboxStats(ctx); n != 0 || !oldest.IsZero() || err != nil {
			t.Fatalf("empty outbox: %d, %v, %v", n, oldest, err)
		}
		insert(t, s, envelope("m0", at, at), envelope("m1", at.Add(time.Minute), at.Add(time.Hour)), envelope("m2", at.Add(2*time.Minute), at.Add(time.Hour)))
		// The oldest is sending: it still waits.
		if err := claimStep(s, at, "w", "m0", 1)(); err != nil {
			t.Fatal(err)
		}
		if n, oldest, err := s.OutboxStats(ctx); n != 3 || !oldest.Equal(at) || err != nil {
			t.Errorf("OutboxStats = %d, %v, %v; want 3, %v", n, oldest, err, at)
		}
		if err := s.MarkOutboxSent(ctx, "m0", "w", at, at.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if n, oldest, err := s.OutboxStats(ctx); n != 2 || !oldest.Equal(at.Add(time.Minute)) || err != nil {
			t.Errorf("OutboxStats = %d, %v, %v; want 2, %v", n, oldest, err, at.Add(time.Minute))
		}
	})

	t.Run("PurgeDeletesWhatsDue", func(t *testing.T) {
		s := open(t)
		sent := envelope("sent", at, at)
		pending := envelope("pending", at, at.Add(time.Hour)) // purged at at+30 days
		insert(t, s, sent, pending)
		if err := claimStep(s, at, "w", "sent", 1)(); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkOutboxSent(ctx, "sent", "w", at, at.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			after time.Duration
			want  int
		}{
			{59 * time.Minute, 0},
			{time.Hour, 1},
			{29 * 24 * time.Hour, 0},
			// An abandoned message goes too, whatever its status.
			{30 * 24 * time.Hour, 1},
		}
		for _, tt := range tests {
			if n, err := s.PurgeOutbox(ctx, at.Add(tt.after)); err != nil || n != tt.want {
				t.Errorf("PurgeOutbox(+%s) = %d, %v; want %d", tt.after, n, err, tt.want)
			}
		}
		if n, _, err := s.OutboxStats(ctx); n != 0 || err != nil {
			t.Errorf("%d messages waiting after the purge (%v)", n, err)
		}
	})

	t.Run("ConcurrentWorkersDeliverEachMessageOnce", func(t *testing.T) {
		s := open(t)
		const workers, messages = 2, 40
		for i := range messages {
			insert(t, s, envelope(fmt.Sprintf("m%02d", i), at, at))
		}
		var mu sync.Mutex
		delivered := map[string][]string{}
		errs := make([]error, workers)
		Race(workers, func(w int) {
			worker := fmt.Sprint("w", w)
			for {
				e, ok, err := s.ClaimOutbox(ctx, at, time.Minute, worker)
				if err != nil || !ok {
					errs[w] = err
					return
				}
				if err := s.MarkOutboxSent(ctx, e.ID, worker, at, at.Add(time.Hour)); err != nil {
					errs[w] = fmt.Errorf("%s marks %s: %w", worker, e.ID, err)
					return
				}
				mu.Lock()
				delivered[e.ID] = append(delivered[e.ID], worker)
				mu.Unlock()
			}
		})
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		if len(delivered) != messages {
			t.Errorf("%d of %d messages delivered", len(delivered), messages)
		}
		for id, by := range delivered {
			if len(by) != 1 {
				t.Errorf("message %s delivered by %v", id, by)
			}
		}
	})
}

// claimStep claims at now for worker and expects the message id at its
// attempt (none when id is empty).
func claimStep(s mail.Store, now time.Time, worker, id string, attempt int) func() error {
	return func() error {
		e, ok, err := s.ClaimOutbox(context.Background(), now, time.Minute, worker)
		switch {
		case err != nil:
			return err
		case ok != (id != "") || e.ID != id || ok && (e.Attempts != attempt || e.LeasedBy != worker || !e.LeaseUntil.Equal(now.Add(time.Minute))):
			return fmt.Errorf("ClaimOutbox by %s at %s = %+v, %v; want %q at attempt %d", worker, now.Format(time.TimeOnly), e, ok, id, attempt)
		}
		return nil
	}
}
