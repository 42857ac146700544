// Package ratelimit limits request rates with token buckets, one per client address and one
// per token (the Authorization header), so that neither one noisy client nor one leaked token
// can starve the others. Memory is bounded: idle buckets are evicted, and the number of
// buckets is capped.
package ratelimit

import (
	"crypto/sha256"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Config tunes a Limiter.
type Config struct {
	// Rate is the sustained requests per second allowed per client address and per token;
	// 0 disables limiting.
	Rate float64
	// Burst is how many requests a client may make at once above Rate (default 2×Rate, at
	// least 1).
	Burst int
	// MaxBuckets caps the buckets kept in memory (default 100,000). Beyond it, idle buckets are
	// evicted first, then arbitrary ones (which only grants their owners a fresh burst).
	MaxBuckets int
	// ForwardedFor takes the client address from the last X-Forwarded-For entry — the one
	// appended by the load balancer in front of the service. Only set it behind such a proxy:
	// otherwise clients choose their own address.
	ForwardedFor bool
}

// Limiter decides whether a request may proceed.
type Limiter struct {
	cfg     Config
	mu      sync.Mutex
	buckets map[string]*bucket
	now     func() time.Time
	sweep   time.Time // the next time idle buckets are swept
}

type bucket struct {
	tokens float64
	last   time.Time
}

// New returns a limiter; a nil *Limiter (from Config.Rate 0) allows everything.
func New(cfg Config) *Limiter {
	if cfg.Rate <= 0 {
		return nil
	}
	if cfg.Burst <= 0 {
		cfg.Burst = max(1, int(math.Ceil(2*cfg.Rate)))
	}
	if cfg.MaxBuckets <= 0 {
		cfg.MaxBuckets = 100_000
	}
	return &Limiter{cfg: cfg, buckets: map[string]*bucket{}, now: time.Now}
}

// Check takes one token from the request's client-address bucket and, if it carries a token,
// from that token's bucket. When either is empty the request is refused and retryAfter says
// when it would be allowed.
func (l *Limiter) Check(r *http.Request) (retryAfter time.Duration, ok bool) {
	if l == nil {
		return 0, true
	}
	keys := []string{"addr:" + ClientAddr(r, l.cfg.ForwardedFor)}
	if t := strings.TrimSpace(r.Header.Get("Authorization")); t != "" {
		// Hashed: an attacker's arbitrarily long header costs a fixed-size key, and the
		// limiter's memory holds no usable token.
		sum := sha256.Sum256([]byte(t))
		keys = append(keys, "token:"+string(sum[:16]))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.maybeSweep(now)
	// Refuse without taking from any bucket if one is empty, so a refused request costs the
	// other bucket nothing.
	bs := make([]*bucket, len(keys))
	for i, k := range keys {
		bs[i] = l.bucket(k, now)
		if bs[i].tokens < 1 {
			retryAfter = max(retryAfter, time.Duration((1-bs[i].tokens)/l.cfg.Rate*float64(time.Second)))
		}
	}
	if retryAfter > 0 {
		return retryAfter, false
	}
	for _, b := range bs {
		b.tokens--
	}
	return 0, true
}

// bucket returns the refilled bucket of key, creating a full one.
func (l *Limiter) bucket(key string, now time.Time) *bucket {
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.cfg.MaxBuckets {
			l.evict(now)
		}
		b = &bucket{tokens: float64(l.cfg.Burst), last: now}
		l.buckets[key] = b
		return b
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(float64(l.cfg.Burst), b.tokens+d.Seconds()*l.cfg.Rate)
		b.last = now
	}
	return b
}

// full is how long a bucket takes to refill completely: an idle bucket older than that is
// indistinguishable from a new one and can be dropped.
func (l *Limiter) full() time.Duration {
	return time.Duration(float64(l.cfg.Burst) / l.cfg.Rate * float64(time.Second))
}

func (l *Limiter) maybeSweep(now time.Time) {
	if now.Before(l.sweep) {
		return
	}
	l.sweep = now.Add(max(l.full(), time.Second))
	l.dropIdle(now)
}

func (l *Limiter) dropIdle(now time.Time) {
	idle := l.full()
	for k, b := range l.buckets {
		if now.Sub(b.last) >= idle {
			delete(l.buckets, k)
		}
	}
}

// evict makes room for one bucket: idle ones first, then (map order is random) any tenth.
func (l *Limiter) evict(now time.Time) {
	l.dropIdle(now)
	if len(l.buckets) < l.cfg.MaxBuckets {
		return
	}
	n := len(l.buckets) - l.cfg.MaxBuckets + max(1, l.cfg.MaxBuckets/10)
	for k := range l.buckets {
		if n == 0 {
			break
		}
		delete(l.buckets, k)
		n--
	}
}

// Len is the number of buckets held.
func (l *Limiter) Len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// ClientAddr is the address of the client of r: its connection's, or with forwardedFor the last
// X-Forwarded-For entry (the one the load balancer in front added).
func ClientAddr(r *http.Request, forwardedFor bool) string {
	if forwardedFor {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			last := xff[len(xff)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if a := strings.TrimSpace(last); a != "" {
				return a
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// RetryAfterSeconds is the Retry-After header value for d: whole seconds, rounded up, ≥ 1.
func RetryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
