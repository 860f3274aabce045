package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatalf("Load() with no variables: %v", err)
	}
	if c.Addr != ":8080" || c.MongoDatabase != "sesame" || c.DataDir != "./data" {
		t.Errorf("defaults = %q %q %q", c.Addr, c.MongoDatabase, c.DataDir)
	}
	if got := c.BaseURL.String(); got != "http://localhost:8080" {
		t.Errorf("BaseURL = %q, want http://localhost:8080", got)
	}
	if c.Location.String() != "Europe/Paris" {
		t.Errorf("Location = %v", c.Location)
	}
	if c.SMTPURL != nil || c.Secret != nil || c.Secure() {
		t.Errorf("SMTP %v, secret %v, secure %v: want unset", c.SMTPURL, c.Secret, c.Secure())
	}
}

func TestLoadValues(t *testing.T) {
	c, err := Load(env(map[string]string{
		"SESAME_ADDR":            "127.0.0.1:9000",
		"SESAME_BASE_URL":        "https://sesame.school.example/",
		"SESAME_SMTP_URL":        "smtps://u:p@mail.example:465",
		"SESAME_MAIL_FROM":       "École <noreply@school.example>",
		"SESAME_SECRET":          "q7Vh2pL9xW4mN8cR3tY6bZ1aK5sD0fGj",
		"SESAME_TRUSTED_PROXIES": "10.0.0.1, 192.168.0.0/16",
		"SESAME_METRICS_TOKEN":   "m3Tr1cs-Tok3n-9xW4mN8cR3tY6bZ1aK5sD0",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.BaseURL.String() != "https://sesame.school.example" || !c.Secure() {
		t.Errorf("BaseURL = %v secure=%v", c.BaseURL, c.Secure())
	}
	if c.MetricsToken != "m3Tr1cs-Tok3n-9xW4mN8cR3tY6bZ1aK5sD0" {
		t.Errorf("MetricsToken = %q", c.MetricsToken)
	}
	if c.SMTPURL.Hostname() != "mail.example" || c.MailFrom.Name != "École" || len(c.TrustedProxies) != 2 {
		t.Errorf("got %+v", c)
	}
}

func TestLoadRejects(t *testing.T) {
	tests := []struct {
		name, key, value string
	}{
		{"addr without port", "SESAME_ADDR", "localhost"},
		{"addr bad port", "SESAME_ADDR", ":99999"},
		{"relative base URL", "SESAME_BASE_URL", "/sesame"},
		{"ftp base URL", "SESAME_BASE_URL", "ftp://x"},
		{"mongo scheme", "SESAME_MONGODB_URI", "postgres://u:secretpw@h/db"},
		{"database name", "SESAME_MONGODB_DATABASE", "a/b"},
		{"smtp scheme", "SESAME_SMTP_URL", "http://mail"},
		{"mail from", "SESAME_MAIL_FROM", "not an address"},
		{"short secret", "SESAME_SECRET", "short"},
		{"placeholder secret", "SESAME_SECRET", "change-me-change-me-change-me-change-me"},
		{"repetitive secret", "SESAME_SECRET", strings.Repeat("k", 40)},
		{"short metrics token", "SESAME_METRICS_TOKEN", "letmein"},
		{"placeholder metrics token", "SESAME_METRICS_TOKEN", "changeme-changeme-changeme-changeme"},
		{"time zone", "SESAME_TIMEZONE", "Mars/Olympus"},
		{"proxy", "SESAME_TRUSTED_PROXIES", "10.0.0.1,nope"},
		{"log format", "SESAME_LOG_FORMAT", "xml"},
		{"log level", "SESAME_LOG_LEVEL", "loud"},
		{"session idle", "SESAME_SESSION_IDLE", "ten minutes"},
		{"session max", "SESAME_SESSION_MAX", "1s"},
		{"idle above max", "SESAME_SESSION_IDLE", "24h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(env(map[string]string{tt.key: tt.value}))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Load(%s=%q) error = %v, want ErrInvalid", tt.key, tt.value, err)
			}
			if !strings.HasPrefix(err.Error(), "invalid configuration: "+tt.key+": expected ") {
				t.Errorf("message %q does not name %s first", err, tt.key)
			}
			if strings.Contains(err.Error(), "secretpw") {
				t.Errorf("message %q leaks a password", err)
			}
		})
	}
}

// TestLoadSecretFile holds finding 15(d): the secret can come from a file
// (a Docker or Kubernetes secret) outside the data directory.
func TestLoadSecretFile(t *testing.T) {
	const good = "q7Vh2pL9xW4mN8cR3tY6bZ1aK5sD0fGj-file"
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    string // the secret; "" when Load must fail
		wantErr error  // wrapped by the error, when set
	}{
		{"file with a newline", map[string]string{"SESAME_SECRET_FILE": write("nl", good+"\n")}, good, nil},
		{"file with surrounding whitespace and CRLF", map[string]string{"SESAME_SECRET_FILE": write("ws", "  \t"+good+"\r\n\n")}, good, nil},
		{"path with surrounding spaces", map[string]string{"SESAME_SECRET_FILE": " " + write("sp", good) + " "}, good, nil},
		{"short secret in the file", map[string]string{"SESAME_SECRET_FILE": write("short", "tiny-but-real-secret\n")}, "", nil},
		{"placeholder in the file", map[string]string{"SESAME_SECRET_FILE": write("ph", "change-me-change-me-change-me-change-me")}, "", nil},
		{"whitespace only", map[string]string{"SESAME_SECRET_FILE": write("empty", " \n\n")}, "", nil},
		{"missing file", map[string]string{"SESAME_SECRET_FILE": filepath.Join(dir, "absent")}, "", os.ErrNotExist},
		{"a directory", map[string]string{"SESAME_SECRET_FILE": dir}, "", nil},
		{"a file too large", map[string]string{"SESAME_SECRET_FILE": write("big", strings.Repeat("x7Yq", 2<<10))}, "", nil},
		{"both variables", map[string]string{"SESAME_SECRET": good, "SESAME_SECRET_FILE": write("both", good)}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env(tt.env))
			if tt.want != "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if string(c.Secret) != tt.want {
					t.Errorf("Secret = %q, want %q", c.Secret, tt.want)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Load error = %v, want ErrInvalid", err)
			}
			if !strings.HasPrefix(err.Error(), "invalid configuration: SESAME_SECRET_FILE: expected ") {
				t.Errorf("message %q does not name SESAME_SECRET_FILE first", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v does not wrap %v", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "tiny-but-real-secret") || strings.Contains(err.Error(), good) {
				t.Errorf("message %q shows the secret", err)
			}
		})
	}
}
