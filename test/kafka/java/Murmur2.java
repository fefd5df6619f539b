/* Prints Kafka's murmur2 hash (org.apache.kafka.common.utils.Utils.murmur2) of each UTF-8 argument. */
public final class Murmur2 {
  public static void main(String[] args) {
    for (String arg : args) {
      byte[] bytes = arg.getBytes(java.nio.charset.StandardCharsets.UTF_8);
      System.out.println(arg + "\t" + org.apache.kafka.common.utils.Utils.murmur2(bytes));
    }
  }
}
