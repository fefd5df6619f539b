import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.connect.mirror.MirrorClient;
import org.apache.kafka.connect.mirror.RemoteClusterUtils;

/**
 * MM2's own client code against a cluster Outpost wrote to.
 * Args: bootstrap remoteClusterAlias group
 * Prints "offset <topic> <partition> <offset>" per translated partition (sorted), then
 * "upstream <alias>" per upstream cluster found by MirrorClient.upstreamClusters().
 */
public class MirrorInterop {
  public static void main(String[] args) throws Exception {
    Map<String, Object> props = new HashMap<>();
    props.put("bootstrap.servers", args[0]);
    Map<TopicPartition, OffsetAndMetadata> offsets =
        RemoteClusterUtils.translateOffsets(props, args[1], args[2], Duration.ofSeconds(30));
    Map<String, Long> sorted = new TreeMap<>();
    for (Map.Entry<TopicPartition, OffsetAndMetadata> e : offsets.entrySet()) {
      sorted.put(e.getKey().topic() + " " + e.getKey().partition(), e.getValue().offset());
    }
    for (Map.Entry<String, Long> e : sorted.entrySet()) {
      System.out.println("offset " + e.getKey() + " " + e.getValue());
    }
    Map<String, Object> clientProps = new HashMap<>();
    clientProps.put("bootstrap.servers", args[0]);
    try (MirrorClient client = new MirrorClient(clientProps)) {
      Set<String> upstream = client.upstreamClusters();
      for (String u : new java.util.TreeSet<>(upstream)) System.out.println("upstream " + u);
    }
  }
}
