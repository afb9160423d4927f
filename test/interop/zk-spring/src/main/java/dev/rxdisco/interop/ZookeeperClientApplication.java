package dev.rxdisco.interop;

import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.cloud.client.ServiceInstance;
import org.springframework.cloud.client.discovery.DiscoveryClient;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.RestController;

/**
 * A plain Spring Cloud Zookeeper discovery client: it registers itself (name,
 * port and metadata from the command line) and answers what its
 * DiscoveryClient sees of a service, so that tests can check both ways.
 */
@SpringBootApplication
@RestController
public class ZookeeperClientApplication {
  private final DiscoveryClient discovery;

  public ZookeeperClientApplication(DiscoveryClient discovery) {
    this.discovery = discovery;
  }

  /** The instances of {@code service} as this Java client discovers them. */
  @GetMapping("/seen/{service}")
  public List<Map<String, Object>> seen(@PathVariable String service) {
    return discovery.getInstances(service).stream()
        .map(ZookeeperClientApplication::describe)
        .collect(Collectors.toList());
  }

  private static Map<String, Object> describe(ServiceInstance i) {
    return Map.of(
        "instanceId", String.valueOf(i.getInstanceId()),
        "host", i.getHost(),
        "port", i.getPort(),
        "secure", i.isSecure(),
        "metadata", i.getMetadata());
  }

  public static void main(String[] args) {
    SpringApplication.run(ZookeeperClientApplication.class, args);
  }
}
