// Command loadgen is an open-loop gRPC load generator for Reelstream's serving benchmarks.
//
// Why Go: on a 2-core machine a Python gRPC client spends about as much CPU per call as the
// Python server it measures, so a Python load generator at 1,000 calls/s takes most of the
// second core and the measured latency is partly the client's. A player is not a Python
// process either. This client costs a few microseconds per call, so the figure is the server's.
//
// Open loop: call n is sent at start + n/rate whatever happened to earlier calls, so a slow
// answer cannot hide the queue behind it (no coordinated omission). Latency is measured from
// the scheduled send time. Prints one JSON object on stdout; progress goes to stderr.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	abrv1 "reelstream.dev/bench/loadgen/gen/reelstream/abr/v1"
	playbackv1 "reelstream.dev/bench/loadgen/gen/reelstream/playback/v1"
	recov1 "reelstream.dev/bench/loadgen/gen/reelstream/recommendation/v1"
)

var ladder = []int32{300, 750, 1200, 1850, 2850, 4300}

// caller sends call number n and returns its error.
type caller func(ctx context.Context, n int) error

type result struct {
	Mode       string         `json:"mode"`
	Rate       float64        `json:"rate"`
	Seconds    float64        `json:"seconds"`
	Sent       int            `json:"sent"`
	OK         int            `json:"ok"`
	Errors     map[string]int `json:"errors"`
	AchievedPS float64        `json:"achieved_per_s"`
	P50        float64        `json:"p50_ms"`
	P90        float64        `json:"p90_ms"`
	P99        float64        `json:"p99_ms"`
	P999       float64        `json:"p999_ms"`
	Max        float64        `json:"max_ms"`
}

func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p / 100 * float64(len(sorted)-1))
	return sorted[i]
}

// run drives call at rate for seconds, open loop, and summarises the latencies.
func run(call caller, rate, seconds, timeout float64, label string) result {
	n := int(rate * seconds)
	lat := make([]float64, n)
	ok := make([]bool, n)
	var mu sync.Mutex
	errs := map[string]int{}
	var wg sync.WaitGroup
	var done atomic.Int64
	start := time.Now()
	stop := make(chan struct{})
	go func() { // progress on stderr once a second
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				fmt.Fprintf(os.Stderr, "[loadgen] %s: %d/%d answered\n", label, done.Load(), n)
			}
		}
	}()
	for i := 0; i < n; i++ {
		at := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func(i int, at time.Time) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(timeout*float64(time.Second)))
			err := call(ctx, i)
			cancel()
			lat[i] = float64(time.Since(at).Microseconds()) / 1000
			if err != nil {
				mu.Lock()
				errs[status.Code(err).String()]++
				mu.Unlock()
			} else {
				ok[i] = true
			}
			done.Add(1)
		}(i, at)
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	close(stop)
	good := make([]float64, 0, n)
	for i, l := range lat {
		if ok[i] {
			good = append(good, l)
		}
	}
	sort.Float64s(good)
	r := result{Rate: rate, Seconds: seconds, Sent: n, OK: len(good), Errors: errs,
		AchievedPS: float64(n) / elapsed}
	if len(good) > 0 {
		r.P50, r.P90, r.P99 = percentile(good, 50), percentile(good, 90), percentile(good, 99)
		r.P999, r.Max = percentile(good, 99.9), good[len(good)-1]
	}
	return r
}

// abrCaller plays `sessions` concurrent playback sessions: every call asks for the next
// chunk's rung and reports the previous chunk's download, as a player does.
// With streaming, every session opens SelectBitrateStream under streamCtx (its deadline bounds
// the whole run, so a stalled server cannot hang the benchmark).
func abrCaller(conns []*grpc.ClientConn, sessions int, seed int64, streaming bool, streamCtx context.Context) (caller, func(context.Context) error) {
	rng := rand.New(rand.NewSource(seed))
	type session struct {
		id     string
		stub   abrv1.AbrServiceClient
		mbps   float64
		chunk  atomic.Int32
		mu     sync.Mutex // a player asks for its next chunk only after the previous answer
		stream abrv1.AbrService_SelectBitrateStreamClient
	}
	ss := make([]*session, sessions)
	prefix := fmt.Sprintf("lg-%d-%06d", seed, rand.Intn(1_000_000))
	for i := range ss {
		ss[i] = &session{id: fmt.Sprintf("%s-%d", prefix, i), stub: abrv1.NewAbrServiceClient(conns[i%len(conns)]),
			mbps: 0.5 + 7.5*rng.Float64()}
	}
	sizes := make([]*abrv1.ChunkSizes, 5)
	for c := range sizes {
		b := make([]int64, len(ladder))
		for k, kbps := range ladder {
			b[k] = int64(kbps) * 500
		}
		sizes[c] = &abrv1.ChunkSizes{Bytes: b}
	}
	var rmu sync.Mutex
	start := func(ctx context.Context) error {
		for _, s := range ss {
			if _, err := s.stub.StartSession(ctx, &abrv1.StartSessionRequest{SessionId: s.id, LadderKbps: ladder}); err != nil {
				return err
			}
			if streaming {
				// One stream per playback session for its whole life, as a player would hold it.
				st, err := s.stub.SelectBitrateStream(streamCtx)
				if err != nil {
					return err
				}
				s.stream = st
			}
		}
		return nil
	}
	call := func(ctx context.Context, n int) error {
		s := ss[n%sessions]
		k := s.chunk.Add(1)
		rmu.Lock()
		buffer := 40 * rng.Float64()
		rmu.Unlock()
		size := int64(1850 * 500)
		req := &abrv1.SelectBitrateRequest{
			SessionId: s.id, ChunkIndex: k, BufferS: buffer, LastRung: 3,
			// The last chunk as a player reports it, with the rate over its transfer's last 0.5 s.
			Recent: []*abrv1.ChunkObservation{{ChunkIndex: k - 1, Rung: 3, Bytes: size,
				DownloadMs: float64(size)*8/(s.mbps*1000) + 80, RttMs: 80,
				TailBytes: int64(s.mbps * 1e6 / 8 * 0.5), TailMs: 500}},
			NextChunkSizes: sizes,
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if !streaming {
			_, err := s.stub.SelectBitrate(ctx, req)
			return err
		}
		if err := s.stream.Send(req); err != nil {
			return err
		}
		_, err := s.stream.Recv()
		return err
	}
	return call, start
}

// recoCaller asks top-k for users in turn (the users file has one id per line).
func recoCaller(conns []*grpc.ClientConn, users []string, k int32) caller {
	stubs := make([]recov1.RecommendationServiceClient, len(conns))
	for i, c := range conns {
		stubs[i] = recov1.NewRecommendationServiceClient(c)
	}
	return func(ctx context.Context, n int) error {
		_, err := stubs[n%len(stubs)].Recommend(ctx, &recov1.RecommendRequest{UserId: users[n%len(users)], K: k})
		return err
	}
}

func main() {
	mode := flag.String("mode", "abr", "abr (unary SelectBitrate), abr-stream (SelectBitrateStream, one stream per session) or recommend")
	addr := flag.String("addr", "127.0.0.1:50053", "server address")
	rate := flag.Float64("rate", 1000, "calls per second (open loop)")
	seconds := flag.Float64("seconds", 20, "measured duration")
	warmup := flag.Float64("warmup", 3, "seconds of warm-up at a quarter of the rate (not measured)")
	timeout := flag.Float64("timeout", 5, "per-call deadline in seconds")
	conns := flag.Int("conns", 4, "HTTP/2 connections (players share them round-robin)")
	sessions := flag.Int("sessions", 200, "abr: concurrent playback sessions")
	usersFile := flag.String("users", "", "recommend: file with one user id per line")
	k := flag.Int("k", 10, "recommend: titles per answer")
	seed := flag.Int64("seed", 0, "random seed")
	flag.Parse()
	_ = playbackv1.File_reelstream_playback_v1_events_proto

	cs := make([]*grpc.ClientConn, *conns)
	for i := range cs {
		c, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(2)
		}
		defer c.Close()
		cs[i] = c
	}
	var call caller
	switch *mode {
	case "abr", "abr-stream":
		var start func(context.Context) error
		total := time.Duration((*warmup + *seconds + *timeout + 60) * float64(time.Second))
		streamCtx, cancelStreams := context.WithTimeout(context.Background(), total)
		defer cancelStreams()
		call, start = abrCaller(cs, *sessions, *seed, *mode == "abr-stream", streamCtx)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen: StartSession:", err)
			os.Exit(1)
		}
		cancel()
	case "recommend":
		raw, err := os.ReadFile(*usersFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen: -users:", err)
			os.Exit(2)
		}
		users := strings.Fields(string(raw))
		if len(users) == 0 {
			fmt.Fprintln(os.Stderr, "loadgen: -users file has no ids")
			os.Exit(2)
		}
		call = recoCaller(cs, users, int32(*k))
	default:
		fmt.Fprintln(os.Stderr, "loadgen: -mode must be abr, abr-stream or recommend")
		os.Exit(2)
	}
	if *warmup > 0 {
		run(call, *rate/4, *warmup, *timeout, "warm-up")
	}
	r := run(call, *rate, *seconds, *timeout, *mode)
	r.Mode = *mode
	out, _ := json.Marshal(r)
	fmt.Println(string(out))
	if r.OK == 0 {
		os.Exit(1)
	}
}
