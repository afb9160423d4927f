package dev.rxdisco.testserver;

import org.springframework.beans.factory.annotation.Value;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.security.config.Customizer;
import org.springframework.security.config.annotation.web.builders.HttpSecurity;
import org.springframework.security.web.SecurityFilterChain;

/**
 * Open by default; with {@code --rxdisco.auth=true} every request needs HTTP
 * basic auth as {@code spring.security.user.name} / {@code .password}.
 * CSRF is off: Eureka clients POST and PUT without tokens.
 */
@Configuration
public class SecurityConfig {
  @Bean
  SecurityFilterChain security(HttpSecurity http, @Value("${rxdisco.auth:false}") boolean auth)
      throws Exception {
    http.csrf(csrf -> csrf.disable());
    if (auth) {
      http.authorizeHttpRequests(a -> a.anyRequest().authenticated())
          .httpBasic(Customizer.withDefaults());
    } else {
      http.authorizeHttpRequests(a -> a.anyRequest().permitAll());
    }
    return http.build();
  }
}
