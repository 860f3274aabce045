package cas

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sesame-edu/sesame/server/keys"
)

// LoginTTL is how long a validated ticket is remembered for single logout:
// as long as Sésame's longest session, which no application's outlives
// by much.
const LoginTTL = 12 * time.Hour

// Login is a ticket validated by a service that asked for single logout
// (single_logout: true): when the person signs out of Sésame, the service
// is told to end the session it opened with that ticket.
type Login struct {
	ID        string // the ticket's hash
	AccountID string
	ClientID  string
	Service   string
	// Ticket is the spent ticket, which the LogoutRequest names
	// (SessionIndex); once validated it opens nothing.
	Ticket    string
	ExpiresAt time.Time
}

// Logout is one LogoutRequest waiting to reach its service.
type Logout struct {
	ID            string // the login's id: one request per validated ticket
	Service       string
	Ticket        string
	Attempts      int
	CreatedAt     time.Time
	NextAttemptAt time.Time
	LastError     string
}

// LogoutQueue keeps the single logout requests until their services have
// taken them, across restarts and instances.
type LogoutQueue interface {
	// QueueLogout adds a request; one already queued under its id stays
	// as it is.
	QueueLogout(ctx context.Context, l Logout) error
	// DueLogouts returns up to limit requests due at now, oldest first.
	DueLogouts(ctx context.Context, now time.Time, limit int) ([]Logout, error)
	// ClaimLogout reports whether this caller is the one to make attempt
	// number attempt of request id (a unique insert: exactly one caller
	// across instances wins it).
	ClaimLogout(ctx context.Context, id string, attempt int, expires time.Time) (bool, error)
	RetryLogout(ctx context.Context, id string, attempts int, next time.Time, lastErr string) error
	DeleteLogout(ctx context.Context, id string) error
}

// SingleLogout turns a sign-out into LogoutRequests for the services that
// validated the person's tickets and asked for it.
type SingleLogout struct {
	logins  Store
	logouts LogoutQueue
	wake    func()
	log     *slog.Logger
	now     func() time.Time
}

// NewSingleLogout returns the listener; wake tells the Sender there is
// work.
func NewSingleLogout(logins Store, q LogoutQueue, wake func(), log *slog.Logger, now func() time.Time) *SingleLogout {
	return &SingleLogout{logins: logins, logouts: q, wake: wake, log: log, now: now}
}

// SignedOut is a session.SignOut: every service that validated a ticket
// for the account, and asked for single logout, is sent a LogoutRequest —
// later, by the Sender, so that a sign-out never waits for, nor fails
// because of, an application. It logs its own failures.
func (s *SingleLogout) SignedOut(ctx context.Context, accountID string) {
	ls, err := s.logins.TakeLogins(ctx, accountID)
	if err != nil {
		s.log.Error("cas: single logout: read the account's logins", "account_id", accountID, "err", err)
		return
	}
	now := s.now()
	for _, l := range ls {
		err := s.logouts.QueueLogout(ctx, Logout{ID: l.ID, Service: l.Service, Ticket: l.Ticket, CreatedAt: now, NextAttemptAt: now})
		if err != nil {
			s.log.Error("cas: single logout: queue", "account_id", accountID, "client", l.ClientID, "err", err)
		}
	}
	if len(ls) > 0 && s.wake != nil {
		s.wake()
	}
}

// Poster delivers a LogoutRequest's form to a service.
type Poster func(ctx context.Context, service string, form url.Values) error

// HTTPPoster posts with client, follows no redirect, and takes any 2xx
// answer as delivered.
func HTTPPoster(client *http.Client) Poster {
	return func(ctx context.Context, service string, form url.Values) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, service, strings.NewReader(form.Encode()))
		if err != nil {
			return fmt.Errorf("%w: %w", errPermanent, err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("service answered %s", resp.Status)
		}
		return nil
	}
}

// NewHTTPClient is the client of single logout: short timeouts, and no
// redirect followed (a service's LogoutRequest goes to it, nowhere else).
func NewHTTPClient() *http.Client {
	return &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

var errPermanent = errors.New("cas: permanent failure")

// SenderOptions tune the Sender; a zero field takes the default named on it.
type SenderOptions struct {
	// Poll is how often the queue is read without a wake-up (default 5 s).
	Poll time.Duration
	// FirstRetry is the wait after a first failure (default 5 s), doubling
	// up to MaxRetry (default 10 min), for at most MaxAge (default 24 h).
	FirstRetry, MaxRetry, MaxAge time.Duration
	Now                          func() time.Time
}

// Sender delivers the queued LogoutRequests, retrying a service that is
// down with a growing wait, like the mail worker. Several senders (one per
// instance) share the queue: each attempt is claimed by one of them.
type Sender struct {
	q    LogoutQueue
	post Poster
	log  *slog.Logger
	opts SenderOptions
	wake chan struct{}
}

// NewSender returns a sender of q's requests through post.
func NewSender(q LogoutQueue, post Poster, log *slog.Logger, o SenderOptions) *Sender {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Poll, 5*time.Second)
	def(&o.FirstRetry, 5*time.Second)
	def(&o.MaxRetry, 10*time.Minute)
	def(&o.MaxAge, 24*time.Hour)
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Sender{q: q, post: post, log: log, opts: o, wake: make(chan struct{}, 1)}
}

// Notify wakes the sender; it never blocks.
func (w *Sender) Notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run sends until ctx ends.
func (w *Sender) Run(ctx context.Context) {
	t := time.NewTicker(w.opts.Poll)
	defer t.Stop()
	for {
		for ctx.Err() == nil && w.SendDue(ctx) > 0 {
		}
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-t.C:
		}
	}
}

// SendDue makes one attempt at each request due now and returns how many
// it attempted.
func (w *Sender) SendDue(ctx context.Context) int {
	now := w.opts.Now()
	due, err := w.q.DueLogouts(ctx, now, 20)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Warn("cas: single logout: read the queue", "err", err)
		}
		return 0
	}
	n := 0
	for _, l := range due {
		// The claim outlives the attempt (15 s at most) by far; if this
		// instance dies mid-attempt, the request is tried again once the
		// sweeper has removed the claim.
		won, err := w.q.ClaimLogout(ctx, l.ID, l.Attempts+1, now.Add(2*time.Minute))
		if err != nil || !won {
			continue
		}
		n++
		w.attempt(ctx, l)
	}
	return n
}

func (w *Sender) attempt(ctx context.Context, l Logout) {
	form := url.Values{"logoutRequest": {string(RenderLogoutRequest("LR-"+keys.RandomHex(16), l.Ticket, w.opts.Now()))}}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	err := w.post(pctx, l.Service, form)
	cancel()
	// The service's host, not its URL: the query may say who the person is.
	host := ""
	if u, perr := url.Parse(l.Service); perr == nil {
		host = u.Host
	}
	done := w.opts.Now()
	attempts := l.Attempts + 1
	switch {
	case err == nil:
		w.log.Info("cas: single logout", "outcome", "sent", "host", host, "attempt", attempts)
		err = w.q.DeleteLogout(ctx, l.ID)
	case errors.Is(err, errPermanent) || done.Sub(l.CreatedAt) > w.opts.MaxAge:
		w.log.Error("cas: single logout", "outcome", "failed", "host", host, "attempt", attempts, "err", err)
		err = w.q.DeleteLogout(ctx, l.ID)
	default:
		wait := w.opts.FirstRetry
		for i := 1; i < attempts && wait < w.opts.MaxRetry; i++ {
			wait *= 2
		}
		wait = min(wait, w.opts.MaxRetry)
		wait -= time.Duration(rand.Float64() * float64(wait) / 4)
		w.log.Warn("cas: single logout", "outcome", "retry", "host", host, "attempt", attempts, "retry_in", wait.Round(time.Second).String(), "err", err)
		err = w.q.RetryLogout(ctx, l.ID, attempts, done.Add(wait), err.Error())
	}
	if err != nil && ctx.Err() == nil {
		w.log.Error("cas: single logout: record the outcome", "err", err)
	}
}
