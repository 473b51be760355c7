package weir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.concurrent.CountDownLatch;

import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.settings.Settings;
import org.opensearch.core.common.transport.TransportAddress;
import org.opensearch.http.HttpServerTransport;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * Starts one OpenSearch node on loopback and writes its HTTP address to a file.
 *
 * Usage: TestNode HOME_DIR HTTP_PORT_RANGE ADDRESS_FILE
 */
public final class TestNode {
    /** A node with plugins from the classpath, as the test framework's MockNode builds it. */
    static final class ClasspathPluginNode extends Node {
        ClasspathPluginNode(Settings settings, Collection<Class<? extends Plugin>> plugins) {
            super(InternalSettingsPreparer.prepareEnvironment(settings, Collections.emptyMap(), null, () -> "weir-test-node"), plugins, true);
        }
    }

    public static void main(String[] args) throws Exception {
        Path home = Path.of(args[0]);
        String ports = args[1];
        Path addressFile = Path.of(args[2]);
        Files.createDirectories(home.resolve("data"));
        Files.createDirectories(home.resolve("logs"));
        Settings settings = Settings.builder()
            .put("cluster.name", "weir-test")
            .put("node.name", "weir-test-node")
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("discovery.type", "single-node")
            .put("network.host", "127.0.0.1")
            .put("http.port", ports)
            .put("transport.port", "19300-19400")
            .put("http.type", Netty4Plugin.NETTY_HTTP_TRANSPORT_NAME)
            .put("transport.type", Netty4Plugin.NETTY_TRANSPORT_NAME)
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .put("action.auto_create_index", true)
            .put("search.max_buckets", 100000)
            .build();
        Node node = new ClasspathPluginNode(settings, Arrays.asList(Netty4Plugin.class, CommonAnalysisPlugin.class));
        node.start();
        TransportAddress http = node.injector().getInstance(HttpServerTransport.class).boundAddress().publishAddress();
        String url = "http://" + http.getAddress() + ":" + http.getPort();
        Path tmp = addressFile.resolveSibling(addressFile.getFileName() + ".tmp");
        Files.writeString(tmp, url + "\n", StandardCharsets.UTF_8);
        Files.move(tmp, addressFile, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        System.out.println("weir test node listening on " + url);
        CountDownLatch forever = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
            } catch (Exception e) {
                e.printStackTrace();
            }
        }));
        forever.await();
    }
}
