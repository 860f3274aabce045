package mail

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"
)

// funcSender answers each Send with f.
type funcSender func(ctx context.Context, m Message) error

func (f funcSender) Send(ctx context.Context, _ *mail.Address, m Message, _ string, _ time.Time) error {
	return f(ctx, m)
}

var testFrom = &mail.Address{Name: "Sésame", Address: "noreply@school.example"}

// TestWorkerRetrySchedule follows one message that always fails for a
// moment, on a clock that jumps to each retry: 5 s, 10 s, 20 s… at most 10
// minutes apart, until the day is over.
func TestWorkerRetrySchedule(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	t0 := time.Date(2025, 9, 1, 8, 0, 0, 0, time.UTC)
	clock := t0
	now := func() time.Time { return clock }
	w := NewWorker(st, funcSender(func(context.Context, Message) error {
		return errors.New("mail: smtp: dial tcp 127.0.0.1:25: connection refused")
	}), testSecret, testFrom, nil, WorkerOptions{ID: "w", Now: now, Jitter: func() float64 { return 0 }})
	id, err := NewOutbox(st, testSecret, now, nil).Enqueue(ctx, Message{To: "a@example.fr", Subject: "s", Text: "t", HTML: "h", Kind: "test"})
	if err != nil {
		t.Fatal(err)
	}
	var waits []time.Duration
	for range 1000 {
		if !w.deliverOne(ctx, "w", Envelope{}) {
			t.Fatalf("nothing to deliver at %s", clock.Sub(t0))
		}
		e := st.get(id)
		if e.Status != StatusPending {
			break
		}
		waits = append(waits, e.NextAttemptAt.Sub(clock))
		clock = e.NextAttemptAt
	}
	want := []time.Duration{5, 10, 20, 40, 80, 160, 320}
	for i, d := range want {
		if waits[i] != d*time.Second {
			t.Errorf("wait %d = %s, want %s", i+1, waits[i], d*time.Second)
		}
	}
	for i, d := range waits[len(want):] {
		if d != 10*time.Minute {
			t.Errorf("wait %d = %s, want the 10 min cap", len(want)+i+1, d)
		}
	}
	e := st.get(id)
	if e.Status != StatusFailed || !strings.Contains(e.LastError, "gave up") || !strings.Contains(e.LastError, "connection refused") {
		t.Errorf("at the end: status %q, last error %q", e.Status, e.LastError)
	}
	if age := clock.Sub(t0); age > 24*time.Hour || age < 24*time.Hour-10*time.Minute {
		t.Errorf("last attempt %s after creation; want within the last 10 minutes of the day", age)
	}
	if e.Attempts != len(waits)+1 {
		t.Errorf("attempts = %d, want %d", e.Attempts, len(waits)+1)
	}
	if !e.PurgeAt.Equal(clock.Add(30 * 24 * time.Hour)) {
		t.Errorf("failed message purged at %s; want 30 days after", e.PurgeAt.Sub(clock))
	}
}

func TestWorkerOutcomes(t *testing.T) {
	t0 := time.Date(2025, 9, 1, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		send     error
		age      time.Duration // of the message when claimed
		secret   []byte        // the worker's, when not the outbox's
		status   string
		lastErr  string
		sendings int
	}{
		{"sent", nil, 0, nil, StatusSent, "", 1},
		{"temporary", errors.New("mail: smtp: sending SMTP RCPT TO command: 451 4.3.0"), 0, nil, StatusPending, "451 4.3.0", 1},
		{"permanent", fmt.Errorf("%w: smtp: sending SMTP RCPT TO command: 550 5.1.1", ErrPermanent), 0, nil, StatusFailed, "550 5.1.1", 1},
		{"older than a day", nil, 25 * time.Hour, nil, StatusFailed, "not delivered within 24h", 0},
		{"sealed under another secret", nil, 0, []byte("another secret, also 32 bytes!!!"), StatusFailed, "SESAME_SECRET changed", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			st := newMemStore()
			created := func() time.Time { return t0 }
			id, err := NewOutbox(st, testSecret, created, nil).Enqueue(ctx, Message{To: "a@example.fr", Subject: "s", Text: "t", HTML: "h", Kind: "test"})
			if err != nil {
				t.Fatal(err)
			}
			sendings := 0
			secret := testSecret
			if tt.secret != nil {
				secret = tt.secret
			}
			w := NewWorker(st, funcSender(func(context.Context, Message) error { sendings++; return tt.send }),
				secret, testFrom, nil, WorkerOptions{ID: "w", Now: func() time.Time { return t0.Add(tt.age) }})
			if !w.deliverOne(ctx, "w", Envelope{}) {
				t.Fatal("nothing delivered")
			}
			e := st.get(id)
			if e.Status != tt.status || !strings.Contains(e.LastError, tt.lastErr) || sendings != tt.sendings || e.Attempts != 1 {
				t.Errorf("status %q, last error %q, %d sendings, %d attempts; want %q, %q, %d, 1",
					e.Status, e.LastError, sendings, e.Attempts, tt.status, tt.lastErr, tt.sendings)
			}
			if tt.status != StatusPending && e.Sealed != nil {
				t.Error("the sealed message is kept after the outcome")
			}
		})
	}
}

// TestWorkerShutdownMidSend: the message keeps its lease and is neither
// marked nor lost.
func TestWorkerShutdownMidSend(t *testing.T) {
	st := newMemStore()
	id, err := NewOutbox(st, testSecret, time.Now, nil).Enqueue(context.Background(), Message{To: "a@example.fr", Subject: "s", Text: "t", HTML: "h", Kind: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	w := NewWorker(st, funcSender(func(ctx context.Context, _ Message) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}), testSecret, testFrom, nil, WorkerOptions{ID: "w"})
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	<-started
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if e := st.get(id); e.Status != StatusSending || !strings.HasPrefix(e.LeasedBy, "w#") || e.LastError != "" {
		t.Errorf("after shutdown: %+v", e)
	}
}

func TestWorkerRunOnce(t *testing.T) {
	w := NewWorker(newMemStore(), funcSender(func(context.Context, Message) error { return nil }), testSecret, testFrom, nil, WorkerOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = w.Run(ctx) })
	for !w.running.Load() {
		time.Sleep(time.Millisecond)
	}
	if err := w.Run(ctx); err == nil {
		t.Error("a second Run of one worker was allowed")
	}
	cancel()
	wg.Wait()
	for range queuedCap + 3 {
		w.Notify("m") // never blocks, even with nobody listening and the queue full
	}
}

func TestMessageID(t *testing.T) {
	tests := []struct{ from, want string }{
		{"noreply@school.example", "abc@school.example"},
		{"noreply@localhost", "abc@localhost"},
	}
	for _, tt := range tests {
		if got := messageID("abc", &mail.Address{Address: tt.from}); got != tt.want {
			t.Errorf("messageID(%s) = %s, want %s", tt.from, got, tt.want)
		}
	}
}

// TestHeldMessage follows a message the outbox writes leased to its
// running worker: sent at once without a claim while three quarters of its
// lease are left (the send may take half, and its outcome must be recorded
// before the lease ends); held longer in a backlog, it is left alone until
// the lease ends and then claimed like a crashed worker's message, never
// sent twice; with the worker stopped, it is written pending for any worker.
func TestHeldMessage(t *testing.T) {
	tests := []struct {
		name    string
		running bool
		wait    time.Duration // between the enqueue and the sender's turn
		// sentAtOnce: the sender's turn sends it; otherwise it is sent
		// by the claim after its lease has run out.
		sentAtOnce bool
		status     string // as written
		attempts   int    // when sent
	}{
		{"taken at once", true, 0, true, StatusSending, 1},
		{"taken with three quarters of its lease left", true, 14 * time.Second, true, StatusSending, 1},
		{"held past a quarter of its lease", true, 16 * time.Second, false, StatusSending, 2},
		{"worker not running", false, 0, true, StatusPending, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			st := newMemStore()
			clock := time.Date(2025, 9, 1, 8, 0, 0, 0, time.UTC)
			now := func() time.Time { return clock }
			sent := 0
			w := NewWorker(st, funcSender(func(context.Context, Message) error { sent++; return nil }),
				testSecret, testFrom, nil, WorkerOptions{ID: "w", Now: now, Lease: time.Minute})
			w.holding.Store(tt.running)
			id, err := NewOutbox(st, testSecret, now, w).Enqueue(ctx, Message{To: "a@example.fr", Subject: "s", Text: "t", HTML: "h", Kind: "test"})
			if err != nil {
				t.Fatal(err)
			}
			if e := st.get(id); e.Status != tt.status {
				t.Fatalf("written %s, want %s", e.Status, tt.status)
			}
			clock = clock.Add(tt.wait)
			if got := w.deliverOne(ctx, "w#0", <-w.queued); got != tt.sentAtOnce || (sent == 1) != tt.sentAtOnce {
				t.Fatalf("the sender's turn: deliverOne = %v and %d sent, want %v", got, sent, tt.sentAtOnce)
			}
			if !tt.sentAtOnce {
				if w.deliverOne(ctx, "w#1", Envelope{}) || sent != 0 {
					t.Fatalf("claimed while its lease runs (%d sent)", sent)
				}
				clock = clock.Add(time.Minute)
				if !w.deliverOne(ctx, "w#1", Envelope{}) {
					t.Fatal("not claimed once its lease ran out")
				}
			}
			if e := st.get(id); sent != 1 || e.Status != StatusSent || e.Attempts != tt.attempts {
				t.Errorf("%d sent, %s after %d attempts; want 1 sent after %d", sent, e.Status, e.Attempts, tt.attempts)
			}
		})
	}
}

// TestHeldMessagesGivenBackAtStop: when the worker stops, the mails held
// for its senders and not yet taken become pending and due at once, for the
// next start or another instance, instead of waiting out their lease; the
// one being sent keeps its lease, as after a crash.
func TestHeldMessagesGivenBackAtStop(t *testing.T) {
	st := newMemStore()
	sending := make(chan struct{})
	w := NewWorker(st, funcSender(func(ctx context.Context, _ Message) error {
		close(sending)
		<-ctx.Done() // the relay hangs until the worker stops
		return ctx.Err()
	}), testSecret, testFrom, nil, WorkerOptions{ID: "w", Senders: 1, Poll: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	for !w.holding.Load() {
		time.Sleep(time.Millisecond)
	}
	ob := NewOutbox(st, testSecret, time.Now, w)
	var ids []string
	for range 3 {
		id, err := ob.Enqueue(context.Background(), Message{To: "a@example.fr", Subject: "s", Text: "t", HTML: "h", Kind: "test"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	<-sending
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// After the stop, a new message is written pending: nobody holds it.
	late, err := ob.Enqueue(context.Background(), Message{To: "a@example.fr", Subject: "s", Text: "t", HTML: "h", Kind: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if e := st.get(ids[0]); e.Status != StatusSending || e.LeasedBy != "w#queued" {
		t.Errorf("the mail being sent at the stop: %s by %q; want sending, its lease kept", e.Status, e.LeasedBy)
	}
	for _, id := range append(ids[1:], late) {
		if e := st.get(id); e.Status != StatusPending || e.LeasedBy != "" || e.NextAttemptAt.After(time.Now()) {
			t.Errorf("mail %s after the stop: %s by %q due %v; want pending, due now", id, e.Status, e.LeasedBy, e.NextAttemptAt)
		}
	}
}
