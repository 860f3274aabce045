package web_test

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/app"
	"github.com/sesame-edu/sesame/server/paths"
	"github.com/sesame-edu/sesame/server/web"
)

// TestProbesSayOnlyUpOrDown holds finding 4: the mail backlog rises after a
// recovery request for a known identifier only, so a public /readyz that
// shows it is an account-existence oracle. Anyone gets up or down; the
// operator's bearer token gets the details.
func TestProbesSayOnlyUpOrDown(t *testing.T) {
	const token = "metrics-token-0123456789-abcdefghijkl"
	backlog := func(o *app.Options) {
		o.MetricsToken, o.Version = token, "v9.9.9"
		o.Web = func(d *web.Deps) {
			d.MailStats = func(context.Context) (int, time.Duration, error) { return 3, 42 * time.Second, nil }
		}
	}
	noToken := func(o *app.Options) {
		o.Version = "v9.9.9"
		o.Web = func(d *web.Deps) {
			d.MailStats = func(context.Context) (int, time.Duration, error) { return 3, 42 * time.Second, nil }
		}
	}
	tests := []struct {
		name     string
		opt      func(*app.Options)
		path     string
		auth     string
		down     bool
		status   int
		wantBody string // exact body; "" when details are expected
	}{
		{"ready, no token configured", noToken, paths.Readyz, "", false, 200, `{"status":"ready"}`},
		{"ready, no token configured, a bearer guessed", noToken, paths.Readyz, "Bearer ", false, 200, `{"status":"ready"}`},
		{"ready, no header", backlog, paths.Readyz, "", false, 200, `{"status":"ready"}`},
		{"ready, wrong token", backlog, paths.Readyz, "Bearer " + token + "x", false, 200, `{"status":"ready"}`},
		{"ready, token prefix", backlog, paths.Readyz, "Bearer " + token[:20], false, 200, `{"status":"ready"}`},
		{"ready, token without Bearer", backlog, paths.Readyz, token, false, 200, `{"status":"ready"}`},
		{"ready, basic auth", backlog, paths.Readyz, "Basic " + token, false, 200, `{"status":"ready"}`},
		{"down, no header", backlog, paths.Readyz, "", true, 503, `{"status":"unavailable"}`},
		{"healthz, no header", backlog, paths.Healthz, "", false, 200, `{"status":"ok"}`},
		{"ready, right token", backlog, paths.Readyz, "Bearer " + token, false, 200, ""},
		{"ready, right token, lower-case scheme", backlog, paths.Readyz, "bearer " + token, false, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestApp(t, tt.opt)
			a.store.down.Store(tt.down)
			var headers []string
			if tt.auth != "" {
				headers = []string{"Authorization", tt.auth}
			}
			resp := a.get(tt.path, headers...)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.wantBody != "" {
				if got := strings.TrimSpace(string(body)); got != tt.wantBody {
					t.Errorf("body %s, want exactly %s", got, tt.wantBody)
				}
				return
			}
			var r struct {
				Status string `json:"status"`
				Store  string `json:"store"`
				Mail   *struct {
					Waiting int `json:"waiting"`
					Oldest  int `json:"oldest_age_seconds"`
				} `json:"mail"`
			}
			if err := json.Unmarshal(body, &r); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			if r.Status != "ready" || r.Store != "embedded" || r.Mail == nil || r.Mail.Waiting != 3 || r.Mail.Oldest != 42 {
				t.Errorf("with the token, body %s lacks the details", body)
			}
		})
	}
}
