package mail

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/mail"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// WorkerOptions tunes a Worker; a zero field takes the default named on it.
type WorkerOptions struct {
	// ID names the worker in leases and must differ between workers.
	// Default: the host name and a random suffix.
	ID string
	// Lease is how long a claimed message is the worker's alone before
	// another worker may take it over (default 60 s). A send is abandoned
	// after half of it, so a live worker always records its outcome in time.
	Lease time.Duration
	// Poll is how often the outbox is read when no Notify came (default 2 s):
	// it picks up retries and the messages other instances enqueued.
	Poll time.Duration
	// Senders is how many messages are sent at once (default 4), each
	// under a lease of its own: a relay answers one message in tens of
	// milliseconds, and codes are asked for faster than that at a term's
	// start.
	Senders int
	// FirstRetry is the wait after the first temporary failure (default
	// 5 s); it doubles after each one up to MaxRetry (default 10 min).
	FirstRetry time.Duration
	MaxRetry   time.Duration
	// MaxAge is how long after its creation a message is retried (default
	// 24 h); then it fails.
	MaxAge time.Duration
	// SentRetention and FailedRetention are how long a sent (default 7
	// days) or failed (default 30 days) message is kept, without its
	// sealed body, for the help desk and operators.
	SentRetention   time.Duration
	FailedRetention time.Duration
	// StatsInterval is how often the backlog is logged when there is one
	// (default 1 min); PurgeInterval how often expired messages are deleted
	// (default 10 min).
	StatsInterval time.Duration
	PurgeInterval time.Duration
	// Now is the clock (default time.Now); Jitter returns a number in
	// [0, 1) that spreads retries (default math/rand/v2's Float64).
	Now    func() time.Time
	Jitter func() float64
}

func (o WorkerOptions) withDefaults() WorkerOptions {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Lease, 60*time.Second)
	def(&o.Poll, 2*time.Second)
	def(&o.FirstRetry, 5*time.Second)
	def(&o.MaxRetry, 10*time.Minute)
	def(&o.MaxAge, 24*time.Hour)
	def(&o.SentRetention, 7*24*time.Hour)
	def(&o.FailedRetention, 30*24*time.Hour)
	def(&o.StatsInterval, time.Minute)
	def(&o.PurgeInterval, 10*time.Minute)
	if o.Senders <= 0 {
		o.Senders = 4
	}
	if o.ID == "" {
		host, _ := os.Hostname()
		o.ID = host + "/" + newID()[:8]
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Jitter == nil {
		o.Jitter = rand.Float64
	}
	return o
}

// staleAfter is the age of the oldest waiting message from which the
// backlog is logged as a warning: retries are 10 minutes apart at most, so
// a message this old has failed several times.
const staleAfter = 15 * time.Minute

// Worker delivers the outbox's messages, Senders at a time. Run several
// workers (processes) for availability: each attempt is claimed by exactly
// one sender of one of them.
type Worker struct {
	store  Store
	sender Sender
	aead   cipher.AEAD
	from   *mail.Address
	log    *slog.Logger
	opts   WorkerOptions
	// queued carries the messages this process enqueued: whole and
	// already leased to heldBy (see hold), or by id alone, which a sender
	// then claims by _id; missed says that some did not fit, so that a
	// sender reads the outbox instead.
	queued  chan Envelope
	missed  chan struct{}
	running atomic.Bool
	// holding is true while the senders run and take what hold leases to
	// them: from Run's start until its context ends.
	holding atomic.Bool
	heldBy  string
}

// queuedCap bounds the messages waiting in memory; beyond it the outbox is
// read, which finds the same messages.
const queuedCap = 4096

// holdBelow is how many messages may wait in memory for a new one to be
// written leased to this process (see hold): far below queuedCap, so that
// a message held always finds its place in the queue.
const holdBelow = queuedCap / 2

// NewWorker returns a worker delivering store's messages through sender,
// from the address from. secret is SESAME_SECRET: it opens what Outbox
// sealed. A nil log discards.
func NewWorker(store Store, sender Sender, secret []byte, from *mail.Address, log *slog.Logger, opts WorkerOptions) *Worker {
	if from == nil {
		panic("mail: NewWorker needs a sender address")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Worker{
		store: store, sender: sender, aead: newAEAD(secret), from: from, log: log,
		opts: opts.withDefaults(), queued: make(chan Envelope, queuedCap), missed: make(chan struct{}, 1),
	}
	w.heldBy = w.opts.ID + "#queued"
	return w
}

// ID is the name the worker's senders lease messages under, followed by
// "#" and the sender's number, or by "#queued" for the messages the outbox
// wrote leased to this worker.
func (w *Worker) ID() string { return w.opts.ID }

// Notify hands message id, pending in the outbox, to a sender, which
// claims it by its id. It never blocks: when too many wait already, the
// next read of the outbox finds this one.
func (w *Worker) Notify(id string) {
	w.hand(Envelope{ID: id})
}

// hold returns e leased to this worker's senders for its first attempt, as
// the outbox is about to write it, when the worker runs and has room: the
// insert is then the claim (no other worker takes a message whose lease
// runs), and saves a sender three commands per mail — reading the
// message, claiming the attempt, writing the lease. Otherwise e is
// returned as it is, pending, for whichever worker claims it first.
func (w *Worker) hold(e Envelope) Envelope {
	if !w.holding.Load() || len(w.queued) >= holdBelow {
		return e
	}
	// The lease is on the worker's clock, the one its senders and every
	// claim compare it with.
	e.Status, e.Attempts, e.LeasedBy, e.LeaseUntil = StatusSending, 1, w.heldBy, w.opts.Now().Add(w.opts.Lease)
	return e
}

// release gives back, pending and due at once, the mails that were held
// for this worker's senders and never taken, so that the next start or
// another instance sends them now rather than once their lease has run
// out. It runs after the senders have stopped.
func (w *Worker) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		select {
		case e := <-w.queued:
			if e.LeasedBy != w.heldBy {
				continue // queued by id: pending already
			}
			err := w.store.MarkOutboxRetry(ctx, e.ID, w.heldBy, w.opts.Now(), "")
			if err != nil && !errors.Is(err, ErrLeaseLost) {
				w.log.Warn("mail: could not give back a mail held for this worker; it is sent once its lease ends", "id", e.ID, "err", err)
			}
		default:
			return
		}
	}
}

// hand queues e for a sender. It never blocks: when too many wait already,
// the next read of the outbox finds it (a held message once its lease has
// run out).
func (w *Worker) hand(e Envelope) {
	select {
	case w.queued <- e:
	default:
		select {
		case w.missed <- struct{}{}:
		default:
		}
	}
}

// Run delivers messages until ctx is cancelled, then returns nil. A message
// being sent at that moment keeps its lease: it is sent again once the
// lease expires, by this process after a restart or by another instance.
// Database errors are logged and retried, never returned.
func (w *Worker) Run(ctx context.Context) error {
	// Each sender leases under a name of its own, so that a sender whose
	// lease ran out can never record the outcome of another's attempt.
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("mail: worker already running")
	}
	defer w.running.Store(false)
	w.holding.Store(true)
	var wg sync.WaitGroup
	for n := range w.opts.Senders {
		wg.Go(func() { w.send(ctx, fmt.Sprintf("%s#%d", w.opts.ID, n)) })
	}
	// At the end: hold nothing more, let the senders finish, then give
	// back what was held for them (deferred calls run last first).
	defer w.release()
	defer wg.Wait()
	defer w.holding.Store(false)
	stats := time.NewTicker(w.opts.StatsInterval)
	defer stats.Stop()
	purge := time.NewTicker(w.opts.PurgeInterval)
	defer purge.Stop()
	w.purge(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-stats.C:
			w.logStats(ctx)
		case <-purge.C:
			w.purge(ctx)
		}
	}
}

// send is one sender's loop: the messages this process queued, by id, as
// they come; and, at start, every Poll and when ids were missed, whatever
// the outbox has due (retries, other instances' messages, messages left
// by a crash). The outbox is read only while no id waits: each read
// decodes every waiting message on the embedded store, so reading it for
// each message of a backlog would cost the square of the backlog.
func (w *Worker) send(ctx context.Context, worker string) {
	poll := time.NewTicker(w.opts.Poll)
	defer poll.Stop()
	scan := true
	for ctx.Err() == nil {
		select {
		case e := <-w.queued:
			w.deliverOne(ctx, worker, e)
			continue
		default:
		}
		// A read interrupted by queued messages stays due.
		for scan && ctx.Err() == nil && len(w.queued) == 0 {
			scan = w.deliverOne(ctx, worker, Envelope{})
		}
		select {
		case <-ctx.Done():
		case e := <-w.queued:
			w.deliverOne(ctx, worker, e)
		case <-w.missed:
			scan = true
		case <-poll.C:
			scan = true
		}
	}
}

// deliverOne makes one attempt at a message: q itself when the outbox
// wrote it leased to this worker (see hold) and three quarters of its
// lease are left; otherwise the message q names, claimed by its id as
// worker, or when q is empty the message due first. It reports whether
// there may be more to do now.
func (w *Worker) deliverOne(ctx context.Context, worker string, q Envelope) bool {
	now := w.opts.Now()
	e, ok := q, true
	var err error
	switch {
	case q.LeasedBy == w.heldBy && now.Before(q.LeaseUntil.Add(-w.opts.Lease*3/4)):
		// Three quarters of the lease left: the send's own limit (half
		// the lease) still leaves a quarter to record its outcome.
		worker = w.heldBy
	case q.LeasedBy == w.heldBy:
		// Held so long in a backlog that its lease could run out before
		// its outcome is recorded: it waits for the lease to end, then the
		// outbox's next read finds it like a message of a crashed worker.
		return false
	case q.ID != "":
		e, ok, err = w.store.ClaimOutboxByID(ctx, q.ID, now, w.opts.Lease, worker)
	default:
		e, ok, err = w.store.ClaimOutbox(ctx, now, w.opts.Lease, worker)
	}
	if err != nil {
		if ctx.Err() == nil {
			w.log.Warn("mail: claim failed", "err", err)
		}
		return false
	}
	if !ok {
		return false
	}
	start := time.Now()
	// Neither the recipient nor the body is logged: logs travel further
	// than the database.
	log := w.log.With("id", e.ID, "kind", e.Kind, "account_id", e.AccountID, "attempt", e.Attempts)

	var sendErr error
	switch {
	case now.Sub(e.CreatedAt) > w.opts.MaxAge:
		// Claimed late, after no worker ran for a day: the code or link
		// inside has expired, and the person has moved on.
		sendErr = fmt.Errorf("%w: not delivered within %s of its creation", ErrPermanent, w.opts.MaxAge)
	default:
		m, err := open(w.aead, e)
		if err != nil {
			sendErr = fmt.Errorf("%w: %w", ErrPermanent, err)
			break
		}
		sctx, cancel := context.WithTimeout(ctx, w.opts.Lease/2)
		sendErr = w.sender.Send(sctx, w.from, m, messageID(e.ID, w.from), e.CreatedAt)
		cancel()
	}
	elapsed := time.Since(start).Milliseconds()

	if sendErr != nil && ctx.Err() != nil && !errors.Is(sendErr, ErrPermanent) {
		// Shutting down mid-send: the relay may or may not have taken the
		// message. It keeps its lease and is retried once the lease has
		// expired, exactly as after a crash.
		log.Info("mail attempt", "outcome", "interrupted", "duration_ms", elapsed)
		return false
	}
	// The outcome is recorded even during shutdown: a delivered message
	// left "sending" would be delivered again after its lease.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	done := w.opts.Now()
	var markErr error
	switch {
	case sendErr == nil:
		markErr = w.store.MarkOutboxSent(mctx, e.ID, worker, done, done.Add(w.opts.SentRetention))
		log.Info("mail attempt", "outcome", "sent", "duration_ms", elapsed)
	case errors.Is(sendErr, ErrPermanent):
		msg := lastError(sendErr)
		markErr = w.store.MarkOutboxFailed(mctx, e.ID, worker, done, done.Add(w.opts.FailedRetention), msg)
		log.Error("mail attempt", "outcome", "failed", "duration_ms", elapsed, "err", msg)
	default:
		wait := backoff(e.Attempts, w.opts.FirstRetry, w.opts.MaxRetry, w.opts.Jitter())
		next := done.Add(wait)
		if next.After(e.CreatedAt.Add(w.opts.MaxAge)) {
			msg := lastError(fmt.Errorf("gave up after %d attempts: %w", e.Attempts, sendErr))
			markErr = w.store.MarkOutboxFailed(mctx, e.ID, worker, done, done.Add(w.opts.FailedRetention), msg)
			log.Error("mail attempt", "outcome", "failed", "duration_ms", elapsed, "err", msg)
			break
		}
		msg := lastError(sendErr)
		markErr = w.store.MarkOutboxRetry(mctx, e.ID, worker, next, msg)
		log.Warn("mail attempt", "outcome", "retry", "duration_ms", elapsed, "retry_in", wait.Round(time.Second).String(), "err", msg)
	}
	switch {
	case errors.Is(markErr, ErrLeaseLost):
		log.Warn("mail: lease expired before the outcome was recorded; another worker took the message over")
	case markErr != nil:
		log.Error("mail: recording the outcome failed; the message is retried when its lease expires", "err", markErr)
		return false
	}
	return true
}

// backoff returns the wait after attempt n (1 for the first) failed:
// first·2^(n−1), at most max, less up to a quarter of it at random (r in
// [0, 1)) so that messages failing together do not retry together.
func backoff(n int, first, max time.Duration, r float64) time.Duration {
	d := first
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d - time.Duration(r*float64(d)/4)
}

// lastError is err's text as stored and logged, bounded.
func lastError(err error) string {
	s := strings.ToValidUTF8(err.Error(), "?")
	if len(s) > 500 {
		s = strings.ToValidUTF8(s[:500], "") + "…"
	}
	return s
}

// messageID is the Message-ID of the outbox message id: random, in the
// sender's domain, and the same at every attempt so that a mail sent twice
// (a reply lost after the server took it) is one mail to a client.
func messageID(id string, from *mail.Address) string {
	domain := "localhost"
	if i := strings.LastIndexByte(from.Address, '@'); i >= 0 && i < len(from.Address)-1 {
		domain = from.Address[i+1:]
	}
	return id + "@" + domain
}

// Stats describes the backlog; /readyz shows it.
type Stats struct {
	// Waiting counts the messages not yet sent nor failed.
	Waiting int
	// Oldest is the creation time of the oldest of them, OldestAge its age;
	// both are zero when none waits.
	Oldest    time.Time
	OldestAge time.Duration
}

// Stats reads the backlog from the store: it covers every instance.
func (w *Worker) Stats(ctx context.Context) (Stats, error) {
	n, oldest, err := w.store.OutboxStats(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("mail: stats: %w", err)
	}
	s := Stats{Waiting: n}
	if n > 0 {
		s.Oldest, s.OldestAge = oldest, max(w.opts.Now().Sub(oldest), 0)
	}
	return s, nil
}

func (w *Worker) logStats(ctx context.Context) {
	s, err := w.Stats(ctx)
	switch {
	case err != nil:
		w.log.Warn("mail: outbox stats failed", "err", err)
	case s.Waiting == 0:
	case s.OldestAge > staleAfter:
		w.log.Warn("mail outbox", "waiting", s.Waiting, "oldest_age", s.OldestAge.Round(time.Second).String())
	default:
		w.log.Info("mail outbox", "waiting", s.Waiting, "oldest_age", s.OldestAge.Round(time.Second).String())
	}
}

// purge deletes expired messages: a real MongoDB's TTL index does it too,
// but the embedded server has none.
func (w *Worker) purge(ctx context.Context) {
	n, err := w.store.PurgeOutbox(ctx, w.opts.Now())
	switch {
	case err != nil && ctx.Err() == nil:
		w.log.Warn("mail: outbox purge failed", "err", err)
	case n > 0:
		w.log.Debug("mail: outbox purged", "deleted", n)
	}
}
