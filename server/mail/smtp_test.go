package mail_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/mail"
)

func TestSMTPTLSAndAuth(t *testing.T) {
	tests := []struct {
		name        string
		scheme      string
		offerTLS    bool
		requireAuth bool
		userinfo    string
		wantErr     bool
		wantUser    string
		logins      int // AUTH attempts the server saw
	}{
		{"STARTTLS without auth", "smtp", true, false, "", false, "", 0},
		{"STARTTLS with PLAIN", "smtp", true, true, "relay:s3cret@", false, "relay", 1},
		{"implicit TLS with PLAIN", "smtps", true, true, "relay:s3cret@", false, "relay", 1},
		{"wrong password", "smtp", true, true, "relay:wrong@", true, "", 1},
		// PLAIN over a plain connection would give the password away: the
		// client refuses before sending it.
		{"no TLS offered: no password sent", "smtp", false, true, "relay:s3cret@", true, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user, pass := "", ""
			if tt.requireAuth {
				user, pass = "relay", "s3cret"
			}
			srv, roots := newTLSServer(t, tt.scheme == "smtps", tt.offerTLS, user, pass)
			s := smtpSender(t, tt.scheme+"://"+tt.userinfo+srv.addr)
			mail.TrustRoots(s, roots)
			err := s.Send(context.Background(), from, codeMessage("123123"), "id@school.example", time.Now())
			t.Logf("Send = %v", err)
			switch {
			case tt.wantErr && err == nil:
				t.Fatal("sent")
			case tt.wantErr && errors.Is(err, mail.ErrPermanent):
				t.Errorf("a connection or authentication failure is permanent: %v", err)
			case !tt.wantErr && err != nil:
				t.Fatal(err)
			}
			got := srv.received()
			if !tt.wantErr && (len(got) != 1 || !got[0].TLS || got[0].User != tt.wantUser) {
				t.Errorf("received %+v", got)
			}
			srv.mu.Lock()
			defer srv.mu.Unlock()
			if len(srv.logins) != tt.logins {
				t.Errorf("server saw %d logins, want %d", len(srv.logins), tt.logins)
			}
		})
	}
}

func TestSMTPClassifiesReplies(t *testing.T) {
	srv := newSMTPServer(t)
	s := smtpSender(t, "smtp://"+srv.addr)
	tests := []struct {
		mode      string
		permanent bool
		want      string
	}{
		{"4xx", false, "451 4.3.0"},
		{"5xx", true, "550 5.1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			srv.setMode(tt.mode)
			err := s.Send(context.Background(), from, codeMessage("1"), "id@school.example", time.Now())
			if err == nil || errors.Is(err, mail.ErrPermanent) != tt.permanent {
				t.Fatalf("Send = %v; want permanent %v", err, tt.permanent)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.want) || strings.Contains(msg, "anne") {
				t.Errorf("error %q: want %q and no recipient", msg, tt.want)
			}
		})
	}
}

// TestSMTPSilentServer: a server that accepts the connection and never
// greets must not hold a worker past its lease.
func TestSMTPSilentServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	u := "smtp://" + l.Addr().String()

	t.Run("timeout", func(t *testing.T) {
		s, err := mail.NewSMTPSender(&url.URL{Scheme: "smtp", Host: l.Addr().String()}, 300*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		returnsWithin(t, 3*time.Second, func() error {
			return s.Send(context.Background(), from, codeMessage("1"), "id@school.example", time.Now())
		})
	})
	t.Run("cancel", func(t *testing.T) {
		s := smtpSender(t, u) // 5 s timeout
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		returnsWithin(t, 2*time.Second, func() error {
			return s.Send(ctx, from, codeMessage("1"), "id@school.example", time.Now())
		})
	})
}

// returnsWithin fails the test unless send returns an error within d.
func returnsWithin(t *testing.T, d time.Duration, send func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- send() }()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("sent to a silent server")
		}
	case <-time.After(d):
		t.Fatalf("Send still blocked after %s", d)
	}
}
