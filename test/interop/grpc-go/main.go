// Command grpc-go drives grpc-go with etcd's naming packages against a real
// etcd, for rxdisco's interoperability tests. It prints one line per step.
//
//	grpc-go serve ENDPOINT TARGET NAME  serves grpc.health.v1.Health on 127.0.0.1:0 (answers
//	                                    carry the header x-server: NAME), registers it with
//	                                    naming/endpoints as TARGET/ADDR until stdin closes
//	grpc-go call  ENDPOINT TARGET N     dials etcd:///TARGET through naming/resolver and
//	                                    makes N Health/Check calls (waitForReady), printing
//	                                    "ok STATUS SERVER" for each
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/naming/endpoints"
	"go.etcd.io/etcd/client/v3/naming/resolver"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
)

func fail(what string, err error) {
	fmt.Fprintln(os.Stderr, what+":", err)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: grpc-go serve ENDPOINT TARGET NAME | call ENDPOINT TARGET N")
		os.Exit(2)
	}
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{os.Args[2]}, DialTimeout: 5 * time.Second})
	if err != nil {
		fail("etcd client", err)
	}
	defer client.Close()
	target := os.Args[3]
	switch os.Args[1] {
	case "serve":
		serve(client, target, os.Args[4])
	case "call":
		n, err := strconv.Atoi(os.Args[4])
		if err != nil {
			fail("N", err)
		}
		call(client, target, n)
	default:
		os.Exit(2)
	}
}

func serve(client *clientv3.Client, target, name string) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail("listen", err)
	}
	server := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req interface{}, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (interface{}, error) {
		_ = grpc.SetHeader(ctx, metadata.Pairs("x-server", name))
		return handler(ctx, req)
	}))
	hs := health.NewServer()
	hs.SetServingStatus("rxdisco", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(server, hs)
	go func() { _ = server.Serve(lis) }()

	addr := lis.Addr().String()
	em, err := endpoints.NewManager(client, target)
	if err != nil {
		fail("endpoints manager", err)
	}
	ctx := context.Background()
	lease, err := client.Grant(ctx, 5)
	if err != nil {
		fail("lease", err)
	}
	if err := em.AddEndpoint(ctx, target+"/"+addr, endpoints.Endpoint{Addr: addr}, clientv3.WithLease(lease.ID)); err != nil {
		fail("add endpoint", err)
	}
	keep, err := client.KeepAlive(ctx, lease.ID)
	if err != nil {
		fail("keepalive", err)
	}
	go func() {
		for range keep {
		}
	}()
	fmt.Println("registered " + addr)
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := em.DeleteEndpoint(ctx, target+"/"+addr); err != nil {
		fail("delete endpoint", err)
	}
	_, _ = client.Revoke(ctx, lease.ID)
	server.Stop()
	fmt.Println("deregistered")
}

func call(client *clientv3.Client, target string, n int) {
	builder, err := resolver.NewBuilder(client)
	if err != nil {
		fail("resolver", err)
	}
	// A target under a key prefix that starts with '/' (etcd:////services/hello)
	// would make grpc-go send that path as the :authority, which HTTP/2 servers
	// refuse (PROTOCOL_ERROR): name the service instead.
	authority := target[strings.LastIndex(target, "/")+1:]
	conn, err := grpc.Dial("etcd:///"+target, grpc.WithResolvers(builder), grpc.WithInsecure(),
		grpc.WithAuthority(authority),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`))
	if err != nil {
		fail("dial", err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		var header metadata.MD
		res, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "rxdisco"}, grpc.WaitForReady(true), grpc.Header(&header))
		cancel()
		if err != nil {
			fmt.Println("error " + err.Error())
			continue
		}
		server := ""
		if v := header.Get("x-server"); len(v) > 0 {
			server = v[0]
		}
		fmt.Println("ok " + res.Status.String() + " " + server)
	}
}
