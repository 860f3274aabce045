package mail

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	const first, max = 5 * time.Second, 10 * time.Minute
	tests := []struct {
		n    int
		want time.Duration // without jitter
	}{
		{1, 5 * time.Second},
		{2, 10 * time.Second},
		{3, 20 * time.Second},
		{4, 40 * time.Second},
		{7, 320 * time.Second},
		{8, max}, // 640 s, capped
		{9, max},
		{1000, max}, // no overflow
	}
	for _, tt := range tests {
		t.Run(tt.want.String(), func(t *testing.T) {
			if got := backoff(tt.n, first, max, 0); got != tt.want {
				t.Errorf("backoff(%d) = %s, want %s", tt.n, got, tt.want)
			}
			// Jitter takes off at most a quarter, never adds.
			for _, r := range []float64{0.25, 0.5, 0.999999} {
				got := backoff(tt.n, first, max, r)
				if got > tt.want || got < tt.want*3/4 {
					t.Errorf("backoff(%d, r=%v) = %s, outside [%s, %s]", tt.n, r, got, tt.want*3/4, tt.want)
				}
			}
		})
	}
}
